"""Platform API tokens: the leads' page (list, create — shown once —, revoke), the platform's whoami and the
plan as the platform reads it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from planner.errors import TokenRefused
from services import tokens
from services.plans import platform_view
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


class PlatformFeature(BaseModel):
    key: str
    name: str
    flag: str = Field(description="the Unleash flag to ask")


class PlatformPlan(BaseModel):
    plan: str
    version: int = Field(description="changes with every change of the plan")
    environment: str
    features: list[PlatformFeature]
    properties: list[str] = Field(description="the context properties the plan's cohorts use")


@router.get("/api/platform/plans/{key}", tags=["platform API"], response_model=PlatformPlan,
            responses={304: {"description": "unchanged since the ETag sent in If-None-Match"},
                       401: {"description": "no token, or an unknown or revoked one"},
                       403: {"description": "signed in, but not with a platform token"},
                       404: {"description": "no such plan, or it is archived"}})
def platform_plan(key: str, request: Request, _platform: Platform, database_url: DatabaseDep):
    """The plan's features (with their flag names) and context properties, for the platform's flag reader
    (flags.plan_source polls this). Send the ETag back in If-None-Match: an unchanged plan answers 304."""
    view = platform_view(database_url=database_url, key=key)
    etag = f'"{view["plan"]}-{view["version"]}"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(view, headers={"ETag": etag, "Cache-Control": "no-cache"})
