"""Development sign-ins on the server: signing out ends one, so a copy of its cookie is void afterwards."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import select

from planner.db import session_scope
from planner.tables import SignInRow, utcnow
from planner.tokens import digest

KEPT = timedelta(days=14)  # a sign-in older than this has ended (the next sign-in clears them)


def start_sign_in(*, database_url: str, user: str) -> str:
    """A new sign-in of `user`; returns the session id the cookie carries (only its hash is stored)."""
    session_id = secrets.token_urlsafe(32)
    with session_scope(database_url) as session:
        session.exec(delete(SignInRow).where(SignInRow.created_at < utcnow() - KEPT))
        session.add(SignInRow(session_hash=digest(session_id), user_id=user))
    return session_id


def signed_in_user(*, database_url: str, session_id: str) -> str | None:
    """Whose sign-in `session_id` is, while it lasts; None once it has ended or expired."""
    with session_scope(database_url) as session:
        row = session.exec(select(SignInRow).where(SignInRow.session_hash == digest(session_id))).first()
    if row is None or row.created_at < utcnow() - KEPT:
        return None
    return row.user_id


def end_sign_in(*, database_url: str, session_id: str) -> None:
    """Sign out: the sign-in is void from now on, whoever holds a copy of its cookie."""
    with session_scope(database_url) as session:
        session.exec(delete(SignInRow).where(SignInRow.session_hash == digest(session_id)))
