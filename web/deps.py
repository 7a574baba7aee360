"""Typed dependencies shared by the routes."""

from __future__ import annotations

from contextlib import AbstractContextManager

from fastapi import Request
from sqlmodel import Session

from planner.db import session_scope


def database_url(request: Request) -> str:
    return request.app.state.database_url


def db(request: Request) -> AbstractContextManager[Session]:
    """A transaction on the planner's database: committed when the block ends, rolled back on error."""
    return session_scope(database_url(request))


def stored_plan(request: Request, key: str):
    """The stored plan `key`, or a 404 that names it."""
    from fastapi import HTTPException

    from planner.store import load_plan

    with db(request) as session:
        plan = load_plan(session, key)
    if plan is None:
        raise HTTPException(404, f"no plan '{key}'")
    return plan
