"""Platform API tokens: create (shown once), list, revoke, verify; only a token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from planner import audit
from planner.errors import TokenNotFound, TokenRefused
from planner.tables import ApiTokenRow, utcnow

TOKEN_PREFIX = "rp_"
DISPLAY_CHARS = 10  # "rp_" and 7 more: enough to tell tokens apart in a list, far too few to guess the rest
NAME_PATTERN = re.compile(r"[A-Za-z0-9 _-]{1,100}")
# verifying a token writes `last_used_at` at most this often, not on every request
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """The name as stored (surrounding spaces dropped), or TokenRefused saying what is wrong with it."""
    name = name.strip()
    if not name:
        raise TokenRefused("name", "is required, e.g. collab-platform")
    if len(name) > 100:
        raise TokenRefused("name", f"is {len(name)} characters long; at most 100")
    if not NAME_PATTERN.fullmatch(name):
        raise TokenRefused("name", "may contain only letters A-Z, digits, '-', '_' and spaces")
    return name


def find_token(session: Session, name: str) -> ApiTokenRow | None:
    return session.exec(select(ApiTokenRow).where(ApiTokenRow.name == name)).first()


def create_token(*, session: Session, name: str, actor: str) -> tuple[ApiTokenRow, str]:
    """A new token: the row, and the token itself — returned this once, never stored, never logged."""
    name = check_name(name)
    existing = find_token(session, name)
    if existing is not None:
        state = "revoked" if existing.revoked_at else "active"
        raise TokenRefused("name", f"a token named '{name}' exists already ({state}); choose another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(name=name, token_hash=digest(token), prefix=token[:DISPLAY_CHARS], created_by=actor)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # the same name created at the same moment elsewhere; session_scope rolls back
        raise TokenRefused("name", f"a token named '{name}' exists already; choose another name") from None
    summary = f"created platform token '{name}' ({row.prefix}…)"
    audit.record(session, action="token.create", actor=actor, summary=summary,
                 detail={"name": name, "prefix": row.prefix})
    return row, token


def list_tokens(*, session: Session) -> list[ApiTokenRow]:
    """Every token, active ones first, then by name."""
    return list(session.exec(select(ApiTokenRow).order_by(ApiTokenRow.revoked_at.is_not(None), ApiTokenRow.name)))


def revoke_token(*, session: Session, name: str, actor: str) -> ApiTokenRow:
    """Refuse the token from now on. Revoking a revoked token changes nothing (and records nothing)."""
    row = find_token(session, name)
    if row is None:
        raise TokenNotFound(name)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(session, action="token.revoke", actor=actor, summary=f"revoked platform token '{name}'",
                     detail={"name": name, "prefix": row.prefix})
    return row


def verify_token(*, session: Session, token: str, now: datetime | None = None) -> ApiTokenRow | None:
    """The active token's row, or None for an unknown or revoked token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    hashed = digest(token)
    row = session.exec(select(ApiTokenRow).where(ApiTokenRow.token_hash == hashed)).first()
    if row is None or not hmac.compare_digest(row.token_hash, hashed) or row.revoked_at is not None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.add(row)
    return row
