"""Platform API tokens: the leads' page (list, create — shown once —, revoke) and the platform's whoami."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from planner.errors import TokenRefused
from services import tokens
from web.auth import Lead, Platform, verify_csrf
from web.deps import DatabaseDep
from web.rendering import is_htmx, render

router = APIRouter(dependencies=[Depends(verify_csrf)])


def _page(request: Request, database_url: str, *, status: int = 200, **extra):
    rows = tokens.list_tokens(database_url=database_url)
    return render(request, "tokens.html", {"tokens": rows, **extra}, block="tokens", status=status)


@router.get("/tokens", include_in_schema=False)
def tokens_page(request: Request, _lead: Lead, database_url: DatabaseDep):
    return _page(request, database_url)


@router.post("/tokens", include_in_schema=False)
def create(request: Request, lead: Lead, database_url: DatabaseDep, name: Annotated[str, Form()] = ""):
    try:
        row, token = tokens.create_token(database_url=database_url, name=name, actor=lead.user)
    except TokenRefused as exc:
        return _page(request, database_url, status=422, errors={exc.field: exc.message}, form={"name": name})
    response = _page(request, database_url, created=row, token=token)
    response.headers["Cache-Control"] = "no-store"  # the one response that carries the token: keep no copy
    return response


@router.post("/tokens/{name}/revoke", include_in_schema=False)
def revoke(name: str, request: Request, lead: Lead, database_url: DatabaseDep):
    tokens.revoke_token(database_url=database_url, name=name, actor=lead.user)
    if is_htmx(request):
        return _page(request, database_url, revoked=name)
    return RedirectResponse("/tokens", status_code=303)


class PlatformWhoami(BaseModel):
    platform: str = Field(description="the name the token was created with")


@router.get("/api/platform/whoami", tags=["platform API"], response_model=PlatformWhoami,
            responses={401: {"description": "no token, or an unknown or revoked one"},
                       403: {"description": "signed in, but not with a platform token"}})
def whoami(platform: Platform):
    """Which platform token the request carries: a check for the platform's configuration."""
    return PlatformWhoami(platform=platform.user.removeprefix("platform:"))
