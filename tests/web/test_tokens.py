"""Platform API tokens: shown once, stored hashed, revocable; a token is the platform, never a lead; no CSRF
for bearer requests, still CSRF for cookie ones; the same from the command line."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from cli.main import app as cli
from planner.db import session_scope
from planner.tables import ApiTokenRow, AuditRow
from planner.tokens import create_token, revoke_token, verify_token

TOKEN = re.compile(r"rp_[A-Za-z0-9_-]{43}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_token(database_url: str, name: str = "collab-platform") -> str:
    with session_scope(database_url) as session:
        return create_token(session=session, name=name, actor="test")[1]


def database_bytes(database_url: str) -> bytes:
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the file, its WAL and shm


@pytest.mark.sqlite_only  # reads the SQLite file itself
def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(lead, database_url):
    created = lead.post("/tokens", {"name": "collab-platform"})
    assert created.status_code == 200 and "not shown again" in created.text
    assert created.headers["Cache-Control"] == "no-store"
    token = TOKEN.search(created.text).group(0)
    assert 'id="new-token"' in created.text and token in created.text

    page = lead.get("/tokens").text
    assert "collab-platform" in page and f"{token[:10]}…" in page and token not in page
    with session_scope(database_url) as session:
        row = session.exec(select(ApiTokenRow)).one()
        audit = session.exec(select(AuditRow).where(AuditRow.action == "token.create")).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.created_by == "lead-1"
    assert token not in repr(row.model_dump()) and token not in repr(audit.model_dump())
    assert "collab-platform" in audit.summary
    stored = database_bytes(database_url)
    assert token[:10].encode() in stored and token.encode() not in stored


def test_names_are_checked_and_unique_with_the_error_next_to_the_field(lead):
    bad = lead.post("/tokens", {"name": "collab/platform"})
    assert bad.status_code == 422 and 'id="err-name"' in bad.text and 'aria-invalid="true"' in bad.text
    assert "may contain only letters" in bad.text and 'value="collab/platform"' in bad.text
    assert lead.post("/tokens", {"name": "  "}).status_code == 422
    assert lead.post("/tokens", {"name": "x" * 101}).status_code == 422
    assert lead.post("/tokens", {"name": "collab platform_2"}).status_code == 200
    again = lead.post("/tokens", {"name": "collab platform_2"})
    assert again.status_code == 422 and "a token named &#39;collab platform_2&#39; exists already" in again.text
    assert not TOKEN.search(again.text)


def test_the_token_is_the_platform_not_a_lead(app, lead, database_url):
    token = new_token(database_url)
    client = TestClient(app)
    me = client.get("/api/platform/whoami", headers=bearer(token))
    assert me.status_code == 200 and me.json() == {"platform": "collab-platform"}
    assert client.get("/api/plans", headers=bearer(token)).status_code == 403
    assert client.get("/tokens", headers=bearer(token)).status_code == 403
    assert lead.get("/api/platform/whoami").status_code == 403
    assert client.get("/api/platform/whoami").status_code == 401
    operation = app.openapi()["paths"]["/api/platform/whoami"]["get"]
    assert operation["security"] == [{"platform token": []}]
    with session_scope(database_url) as session:
        assert session.exec(select(ApiTokenRow)).one().last_used_at is not None


def test_wrong_and_revoked_tokens_are_refused_without_echoing_them(app, lead, database_url):
    token = new_token(database_url)
    client = TestClient(app)
    wrong = "rp_" + "A" * 43
    for headers in ({}, {"Accept": "text/html"}):
        refused = client.get("/api/platform/whoami", headers={**bearer(wrong), **headers})
        assert refused.status_code == 401 and "unknown or has been revoked" in refused.text
        assert wrong not in refused.text
    page = client.get("/tokens", headers={**bearer(wrong), "Accept": "text/html"})
    assert page.status_code == 401 and wrong not in page.text

    revoked = lead.post("/tokens/collab-platform/revoke", {})
    assert revoked.status_code == 200 and "revoked: requests" in revoked.text
    assert lead.post("/tokens/collab-platform/revoke", {}).status_code == 200  # again: nothing changes
    refused = client.get("/api/platform/whoami", headers=bearer(token))
    assert refused.status_code == 401 and token not in refused.text
    assert lead.post("/tokens/nope/revoke", {}).status_code == 404
    with session_scope(database_url) as session:
        assert len(session.exec(select(AuditRow).where(AuditRow.action == "token.revoke")).all()) == 1


def test_a_pilot_user_cannot_see_create_or_revoke_tokens(member, database_url):
    new_token(database_url)
    assert member.get("/tokens").status_code == 403
    assert member.post("/tokens", {"name": "mine"}).status_code == 403
    assert member.post("/tokens/collab-platform/revoke", {}).status_code == 403
    with session_scope(database_url) as session:
        assert [(r.name, r.revoked_at) for r in session.exec(select(ApiTokenRow))] == [("collab-platform", None)]


def test_bearer_requests_need_no_csrf_token_but_cookie_requests_do(app, lead, demo, database_url):
    token = new_token(database_url)
    client = TestClient(app)
    joined = client.post("/api/pilot/intranet-rollout/pilot/join", headers=bearer(token),
                         json={"accept_guidelines_version": 1, "user": "u-9"})
    assert joined.status_code == 200 and joined.json()["status"] == "member"
    # skipping the CSRF check does not skip the role check: the platform is not a lead
    not_lead = client.post("/tokens", headers=bearer(token), data={"name": "sneaky"})
    assert not_lead.status_code == 403 and "only project leads" in not_lead.text
    # a lead's cookie with the platform's token is the platform: a cookie never borrows the bearer's exemption
    mixed = lead.client.post("/tokens", headers=bearer(token), data={"name": "sneaky"})
    assert mixed.status_code == 403 and "only project leads" in mixed.text
    cookie_only = lead.client.post("/tokens", data={"name": "sneaky"}, headers={"HX-Request": "true"})
    assert cookie_only.status_code == 403 and "CSRF" in cookie_only.text
    bad_bearer = lead.client.post("/tokens", headers=bearer("rp_forged"), data={"name": "sneaky"})
    assert bad_bearer.status_code == 401
    for other in ("Bearer some-sso-jwt", "Basic bGVhZDpwdw=="):  # not our tokens: the cookie session still needs CSRF
        refused = lead.client.post("/tokens", headers={"Authorization": other}, data={"name": "sneaky"})
        assert refused.status_code == 403 and "CSRF" in refused.text
    with session_scope(database_url) as session:
        assert [r.name for r in session.exec(select(ApiTokenRow))] == ["collab-platform"]


def test_last_used_is_written_at_most_once_a_minute(database_url):
    token = new_token(database_url)
    with session_scope(database_url) as session:
        first = verify_token(session=session, token=token).last_used_at
    with session_scope(database_url) as session:
        assert verify_token(session=session, token=token, now=first + timedelta(seconds=30)).last_used_at == first
    with session_scope(database_url) as session:
        later = first + timedelta(seconds=61)
        assert verify_token(session=session, token=token, now=later).last_used_at == later
        assert verify_token(session=session, token=token[:-1] + "x") is None
        revoke_token(session=session, name="collab-platform", actor="test")
        assert verify_token(session=session, token=token) is None


@pytest.fixture
def cli_env(database_url, monkeypatch):
    monkeypatch.setenv("PLANNER_DATABASE_URL", database_url)
    return database_url


def test_the_command_line_creates_lists_and_revokes(cli_env, app):
    runner = CliRunner()
    created = runner.invoke(cli, ["token", "create", "collab-platform"])
    assert created.exit_code == 0 and "not shown again" in created.output
    token = created.stdout.strip()
    assert TOKEN.fullmatch(token)
    assert TestClient(app).get("/api/platform/whoami", headers=bearer(token)).status_code == 200

    listed = runner.invoke(cli, ["token", "list"])
    assert listed.exit_code == 0 and "collab-platform" in listed.output and token[:10] in listed.output
    assert token not in listed.output
    duplicate = runner.invoke(cli, ["token", "create", "collab-platform"])
    assert duplicate.exit_code == 1 and "name: a token named 'collab-platform' exists already" in duplicate.output

    revoked = runner.invoke(cli, ["token", "revoke", "collab-platform"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked already" in runner.invoke(cli, ["token", "revoke", "collab-platform"]).output
    assert TestClient(app).get("/api/platform/whoami", headers=bearer(token)).status_code == 401
    missing = runner.invoke(cli, ["token", "revoke", "nope"])
    assert missing.exit_code == 1 and "no token 'nope'" in missing.output
    with session_scope(cli_env) as session:
        actors = [(a.action, a.actor) for a in session.exec(select(AuditRow).order_by(AuditRow.id))]
    assert actors == [("token.create", "cli"), ("token.revoke", "cli")]
