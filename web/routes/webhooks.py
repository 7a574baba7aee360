"""A plan's webhooks: the leads' page (list, add — the secret shown once —, remove) with the deliveries' states."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

from planner.errors import InputInvalid
from services import webhooks
from web.auth import Lead, verify_csrf
from web.deps import DatabaseDep
from web.rendering import render

router = APIRouter(prefix="/plans/{key}/webhooks", dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _page(request: Request, database_url: str, key: str, *, status: int = 200, **extra):
    hooks, deliveries = webhooks.listing(database_url=database_url, key=key)
    return render(request, "webhooks.html", {"key": key, "hooks": hooks, "deliveries": deliveries, **extra},
                  block="webhooks", status=status)


@router.get("")
def webhooks_page(key: str, request: Request, _lead: Lead, database_url: DatabaseDep):
    return _page(request, database_url, key)


@router.post("")
def add(key: str, request: Request, lead: Lead, database_url: DatabaseDep, url: Annotated[str, Form()] = ""):
    try:
        hook, secret = webhooks.add(database_url=database_url, key=key, url=url, actor=lead.user)
    except InputInvalid as exc:
        return _page(request, database_url, key, status=422, errors={exc.field: exc.message}, form={"url": url})
    response = _page(request, database_url, key, created=hook, secret=secret)
    response.headers["Cache-Control"] = "no-store"  # the one response that carries the secret: keep no copy
    return response


@router.post("/{webhook_id}/remove")
def remove(key: str, webhook_id: int, request: Request, lead: Lead, database_url: DatabaseDep):
    webhooks.remove(database_url=database_url, key=key, webhook_id=webhook_id, actor=lead.user)
    return _page(request, database_url, key, removed=True)
