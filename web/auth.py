"""Who is asking: identity from a platform API token, a trusted SSO header or the development sign-in; roles; CSRF."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from planner.tokens import TOKEN_PREFIX
from planner.userids import problem
from services.signins import signed_in_user
from services.tokens import platform_for
from web.deps import get_settings


@dataclass(frozen=True)
class Identity:
    user: str
    groups: frozenset[str]
    lead: bool
    via: str  # "sso" | "dev" | "token"
    # context properties the cohorts' rules use (department, location, ...), from the SSO proxy's headers
    properties: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # a machine client (the collaboration platform) holding an API token, not a person
    platform: bool = False


class NotSignedIn(Exception):
    """No identity: pages redirect to the sign-in, the API answers 401."""


def _bearer(request: Request) -> str | None:
    """The planner's own token from `Authorization: Bearer rp_…`; other Authorization headers (an SSO proxy's
    own bearer, say) are not ours to judge and are ignored."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials.startswith(TOKEN_PREFIX):
        return None
    return credentials


def token_identity(request: Request) -> Identity | None:
    """The platform behind a bearer token; None without one; 401 for an unknown or revoked one.
    Looked up once per request (identify() is asked several times: CSRF, the route, the page)."""
    token = _bearer(request)
    if token is None:
        return None
    known = getattr(request.state, "token_identity", None)
    if known is not None:
        return known
    name = platform_for(database_url=get_settings(request).database_url, token=token)
    if name is None:
        # never the token itself: error messages end up in logs
        raise HTTPException(401, "the API token is unknown or has been revoked; ask a project lead for a new one",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    identity = Identity(user=f"platform:{name}", groups=frozenset(), lead=False, via="token", platform=True)
    request.state.token_identity = identity
    return identity


def identify(request: Request) -> Identity | None:
    platform = token_identity(request)
    if platform is not None:
        return platform
    config = get_settings(request)
    headers = request.headers.getlist(config.identity_header)
    if headers:
        if not config.is_trusted(request.client.host if request.client else None):
            raise HTTPException(403, f"the {config.identity_header} header is only accepted from the SSO proxy")
        for name in (config.identity_header, config.groups_header):
            given = len(request.headers.getlist(name))
            if given > 1:  # which one the proxy set cannot be told: refuse rather than take the first
                raise HTTPException(400, f"the {name} header is given {given} times")
        header = headers[0]
        groups = frozenset(g.strip() for g in request.headers.get(config.groups_header, "").split(",") if g.strip())
        user = header.strip()
        wrong = problem(user)
        if wrong:  # nobody can be given features under it (Unleash refuses such a value)
            raise HTTPException(403, f"the {config.identity_header} header is not a usable user id: it {wrong}")
        properties = {name: request.headers[header] for name, header in config.property_headers.items()
                      if request.headers.get(header)}
        return Identity(user, groups, config.lead_group in groups, "sso", properties)
    signed_in = request.session.get("user") if config.dev_login else None
    if signed_in and _sign_in_lasts(request, signed_in):
        groups = frozenset(request.session.get("groups", []))
        return Identity(signed_in, groups, config.lead_group in groups, "dev", dict(request.session.get("properties", {})))
    return None


def _sign_in_lasts(request: Request, user: str) -> bool:
    """Whether the development sign-in in the cookie is still on record (signing out ends it on the server);
    looked up once per request."""
    known = getattr(request.state, "sign_in_lasts", None)
    if known is None:
        session_id = request.session.get("sid")
        known = bool(session_id) and signed_in_user(database_url=get_settings(request).database_url,
                                                    session_id=session_id) == user
        request.state.sign_in_lasts = known
    return known


async def _look_up_token(request: Request) -> None:
    """A bearer token or a development sign-in is a database read: done in the threadpool, once per request
    (cached on it). The dependencies here are async so that a header identity costs no thread hop at all."""
    if _bearer(request) is not None and getattr(request.state, "token_identity", None) is None:
        await run_in_threadpool(token_identity, request)
    elif get_settings(request).dev_login and request.session.get("user") and \
            getattr(request.state, "sign_in_lasts", None) is None:
        await run_in_threadpool(_sign_in_lasts, request, request.session["user"])


async def current_identity(request: Request) -> Identity:
    await _look_up_token(request)
    identity = identify(request)
    if identity is None:
        raise NotSignedIn()
    return identity


async def require_lead(identity: Annotated[Identity, Depends(current_identity)]) -> Identity:
    if not identity.lead:
        raise HTTPException(403, "only project leads may do this")
    return identity


# declares the bearer scheme in the OpenAPI document (Swagger UI's "Authorize"); identify() does the checking
platform_token = HTTPBearer(auto_error=False, scheme_name="platform token",
                            description="A platform API token, `rp_…`, from `planner token create NAME` or /tokens.")


async def require_platform(identity: Annotated[Identity, Depends(current_identity)],
                           _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(platform_token)]) -> Identity:
    if not identity.platform:
        raise HTTPException(403, "only the platform may do this, with its API token (Authorization: Bearer rp_…)")
    return identity


async def require_person(identity: Annotated[Identity, Depends(current_identity)]) -> Identity:
    if identity.platform:
        raise HTTPException(403, "these pages are for people; a platform token acts for a user through /api/pilot")
    return identity


Lead = Annotated[Identity, Depends(require_lead)]
Person = Annotated[Identity, Depends(require_person)]
Someone = Annotated[Identity, Depends(current_identity)]
Platform = Annotated[Identity, Depends(require_platform)]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def verify_csrf(request: Request) -> None:
    """Every state-changing request carries the session's token (header from htmx, field from forms)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    # A browser never adds an Authorization header by itself, and another site's page cannot set one without a
    # CORS preflight the planner does not answer: a valid bearer token cannot be a forged request. A cookie can.
    if _bearer(request) is not None:
        await _look_up_token(request)  # a 401 for an unknown or revoked one
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf_token")
    if not expected or not sent or not hmac.compare_digest(str(sent), expected):
        raise HTTPException(403, "the form has expired or did not come from this site (CSRF check); reload the page")
