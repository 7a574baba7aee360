"""Platform API tokens: create (the token is returned this once), list, revoke."""

from __future__ import annotations

from planner import tokens
from planner.db import session_scope
from planner.tables import ApiTokenRow


def create_token(*, database_url: str, name: str, actor: str) -> tuple[ApiTokenRow, str]:
    """A new token's row and the token itself, never stored or logged; TokenRefused names what is wrong."""
    with session_scope(database_url) as session:
        return tokens.create_token(session=session, name=name, actor=actor)


def list_tokens(*, database_url: str) -> list[ApiTokenRow]:
    with session_scope(database_url) as session:
        return tokens.list_tokens(session=session)


def revoke_token(*, database_url: str, name: str, actor: str) -> tuple[ApiTokenRow, bool]:
    """Refuse the token from now on; the row, and whether it was revoked already. TokenNotFound."""
    with session_scope(database_url) as session:
        already = getattr(tokens.find_token(session, name), "revoked_at", None) is not None
        return tokens.revoke_token(session=session, name=name, actor=actor), already


def platform_for(*, database_url: str, token: str) -> str | None:
    """The name of the platform holding an active token, or None (and its last use noted)."""
    with session_scope(database_url) as session:
        row = tokens.verify_token(session=session, token=token)
        return row.name if row is not None else None
