"""Who is asking: identity from a trusted SSO header or the development sign-in; roles; CSRF."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from web.settings import WebSettings


@dataclass(frozen=True)
class Identity:
    user: str
    groups: frozenset[str]
    lead: bool
    via: str  # "sso" | "dev"
    # context properties the cohorts' rules use (department, location, ...), from the SSO proxy's headers
    properties: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


class NotSignedIn(Exception):
    """No identity: pages redirect to the sign-in, the API answers 401."""


def settings(request: Request) -> WebSettings:
    return request.app.state.web_settings


def identify(request: Request) -> Identity | None:
    config = settings(request)
    header = request.headers.get(config.identity_header)
    if header is not None:
        if not config.is_trusted(request.client.host if request.client else None):
            raise HTTPException(403, f"the {config.identity_header} header is only accepted from the SSO proxy")
        groups = frozenset(g.strip() for g in request.headers.get(config.groups_header, "").split(",") if g.strip())
        user = header.strip()
        if not user:
            raise HTTPException(403, f"the {config.identity_header} header is empty")
        properties = {name: request.headers[header] for name, header in config.property_headers.items()
                      if request.headers.get(header)}
        return Identity(user, groups, config.lead_group in groups, "sso", properties)
    signed_in = request.session.get("user") if config.dev_login else None
    if signed_in:
        groups = frozenset(request.session.get("groups", []))
        return Identity(signed_in, groups, config.lead_group in groups, "dev", dict(request.session.get("properties", {})))
    return None


def current_identity(request: Request) -> Identity:
    identity = identify(request)
    if identity is None:
        raise NotSignedIn()
    return identity


def require_lead(identity: Annotated[Identity, Depends(current_identity)]) -> Identity:
    if not identity.lead:
        raise HTTPException(403, "only project leads may do this")
    return identity


Lead = Annotated[Identity, Depends(require_lead)]
Someone = Annotated[Identity, Depends(current_identity)]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def verify_csrf(request: Request) -> None:
    """Every state-changing request carries the session's token (header from htmx, field from forms)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf_token")
    if not expected or not sent or not hmac.compare_digest(str(sent), expected):
        raise HTTPException(403, "the form has expired or did not come from this site (CSRF check); reload the page")
