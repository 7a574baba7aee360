"""A user id Unleash would refuse is stopped at every door, and a stored one never blocks a cohort."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from planner.db import session_scope
from planner.optin import effective_members
from planner.store import load_plan
from planner.tables import CohortRow, MembershipRow, PlanRow, utcnow
from tests.web.conftest import csrf_of
from tests.web.test_tokens import bearer, new_token

KEY = "intranet-rollout"
TOO_LONG = "x" * 101


def test_the_sso_header_with_an_unusable_id_is_refused_with_the_reason(app, demo):
    client = TestClient(app, client=("127.0.0.1", 40000))  # the SSO proxy on this host
    for user in ("", TOO_LONG, "two words"):
        response = client.get("/pilot", headers={"X-Forwarded-User": user})
        assert response.status_code == 403 and "not a usable user id" in response.text
        assert TOO_LONG not in response.text
    assert client.get("/pilot", headers={"X-Forwarded-User": "x" * 100}).status_code == 200


def test_the_development_sign_in_refuses_an_empty_or_long_id_on_its_form(app):
    client = TestClient(app, follow_redirects=False)
    csrf = csrf_of(client.get("/login").text)
    for user in ("", "   ", TOO_LONG):
        page = client.post("/login", data={"user": user, "role": "pilot", "csrf_token": csrf})
        assert page.status_code == 422 and "Enter a usable user id" in page.text
    assert client.post("/login", data={"user": "u-9", "role": "pilot", "csrf_token": csrf}).status_code == 303


def test_the_platform_cannot_join_for_an_unusable_id(app, demo, database_url):
    token = new_token(database_url)
    client = TestClient(app)
    for user in ("", TOO_LONG, "a,b"):
        response = client.post(f"/api/pilot/{KEY}/pilot/join", headers=bearer(token),
                               json={"accept_guidelines_version": 1, "user": user})
        assert response.status_code == 422 and "user: the user id" in response.text, user
    with session_scope(database_url) as session:
        assert session.query(MembershipRow).count() == 0


def test_a_stored_unusable_id_is_left_out_of_unleash_shown_to_the_lead_and_removable(lead, demo, database_url):
    """Rows stored before ids were checked at the door: the cohort's other members still go to Unleash."""
    with session_scope(database_url) as session:
        cohort = session.query(CohortRow).join(PlanRow).filter(PlanRow.key == KEY, CohortRow.key == "pilot").one()
        for user in ("good-1", "", TOO_LONG, "good-2"):
            session.add(MembershipRow(cohort_id=cohort.id, user_id=user, status="member", requested_at=utcnow(),
                                      joined_at=utcnow(), guidelines_version=1, accepted_at=utcnow()))
    with session_scope(database_url) as session:
        members, _ = effective_members(session, load_plan(session, KEY))
    assert members["pilot"] == ["good-1", "good-2"]
    page = lead.get(f"/plans/{KEY}/cohorts/pilot/members").text
    assert page.count("not in Unleash: the id") == 2 and "(empty id)" in page
    assert f"<td>{TOO_LONG}" not in page and "x" * 40 + "…" in page  # shown cut short; the form carries it whole
    removed = lead.post(f"/plans/{KEY}/cohorts/pilot/members/remove", {"user": ""})
    assert removed.status_code == 200 and "Removed the member with an empty id." in removed.text
    removed = lead.post(f"/plans/{KEY}/cohorts/pilot/members/remove", {"user": TOO_LONG})
    assert removed.status_code == 200 and re.search(r"Removed x{40}…\.", removed.text)
    with session_scope(database_url) as session:
        assert sorted(m.user_id for m in session.query(MembershipRow)) == ["good-1", "good-2"]
