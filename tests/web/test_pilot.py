"""The pilot page and its JSON API: join with the guidelines, leave, waitlist, and who may act for whom."""

from __future__ import annotations

import pytest

from tests.plans import open_gates
from sqlmodel import select

from planner.db import session_scope
from planner.optin import roster
from tests.web.conftest import sign_in


def members(database_url):
    with session_scope(database_url) as session:
        m, w = roster(session, plan_key="intranet-rollout", cohort_key="pilot")
    return [r.user_id for r in m], [r.user_id for r in w]


def test_the_pilot_page_lists_open_cohorts_with_guidelines(member, demo):
    page = member.get("/pilot").text
    assert "Pilot group" in page and "50 of 50 places left" in page
    assert "Be respectful." in page and "version 1" in page
    assert "<strong>Innovation blog</strong>" in page and "from 02 Nov 2026" in page and "innovation-blog" not in page
    assert "HR" not in page.split('id="offers"')[1].split("</h2>")[0]  # only opt-in cohorts are offered


def test_join_requires_accepting_the_guidelines_then_leave(member, demo, database_url):
    refused = member.post("/pilot/intranet-rollout/pilot/join", {})
    assert refused.status_code == 422 and "accept the current usage guidelines (version 1)" in refused.text
    joined = member.post("/pilot/intranet-rollout/pilot/join", {"accept": "1"})
    assert joined.status_code == 200 and "You are in." in joined.text and "you are a member" in joined.text
    assert members(database_url) == (["u-7"], [])
    left = member.post("/pilot/intranet-rollout/pilot/leave", {})
    assert "You left the pilot." in left.text and members(database_url) == ([], [])


def test_a_full_pilot_puts_people_on_the_waitlist_and_promotes_them(app, demo, database_url, lead):
    from planner.editing import save_edit

    with session_scope(database_url) as session:
        save_edit(session=session, key="intranet-rollout", actor="lead", summary="capacity 1",
                  edit=lambda doc: doc["cohorts"][0].update(capacity=1))
    first, second = sign_in(app, "ann", "member"), sign_in(app, "bo", "member")
    first.post("/pilot/intranet-rollout/pilot/join", {"accept": "1"})
    waiting = second.post("/pilot/intranet-rollout/pilot/join", {"accept": "1"})
    assert "you are number 1 on the waitlist" in waiting.text
    # the lead sees both, removes the member, and the first waiting moves up
    page = lead.get("/plans/intranet-rollout/cohorts/pilot/members").text
    assert "ann" in page and "bo" in page
    _waited(database_url, "bo")
    assert "moved up from the waitlist" not in second.get("/me/features").text
    removed = lead.post("/plans/intranet-rollout/cohorts/pilot/members/remove", {"user": "ann"})
    assert "Removed ann. bo moved up from the waitlist." in removed.text
    assert members(database_url) == (["bo"], [])
    # "My features" tells bo (the platform is told by the webhook event waitlist.moved_up)
    assert "You moved up from the waitlist of “pilot”" in second.get("/me/features").text
    csv = lead.get("/plans/intranet-rollout/cohorts/pilot/members.csv")
    assert csv.text.splitlines()[0].startswith("user_id,status") and csv.text.splitlines()[1].startswith("bo,member")


def _waited(database_url: str, user: str) -> None:
    """The user asked a minute ago (a seat given at once comes in the same moment; one from the waitlist later)."""
    from datetime import timedelta

    from planner.tables import MembershipRow

    with session_scope(database_url) as session:
        row = session.exec(select(MembershipRow).where(MembershipRow.user_id == user)).one()
        row.requested_at = row.requested_at - timedelta(minutes=1)
        session.add(row)


def test_the_json_api_joins_for_yourself_only(member, demo, database_url):
    joined = member.post("/api/pilot/intranet-rollout/pilot/join", json={"accept_guidelines_version": 1}, data=None)
    assert joined.status_code == 200 and joined.json()["status"] == "member"
    for_someone_else = member.post("/api/pilot/intranet-rollout/pilot/join",
                                   json={"accept_guidelines_version": 1, "user": "victim"})
    assert for_someone_else.status_code == 403
    assert member.get("/api/pilot/offers?user=victim").status_code == 403
    offers = member.get("/api/pilot/offers").json()
    assert offers[0]["cohort"] == "pilot" and offers[0]["status"] == "member"
    features = member.get("/api/pilot/features").json()
    assert {f["feature"] for f in features if f["now"]} == {"innovation-blog", "wiki"}
    assert all(f["unleash"] is None for f in features)  # no reader in this app: not evaluated, not guessed
    assert member.post("/api/pilot/intranet-rollout/pilot/leave", json={}).json()["status"] == "none"
    assert members(database_url) == ([], [])


def test_json_posts_need_the_csrf_token_too(member, demo):
    response = member.client.post("/api/pilot/intranet-rollout/pilot/join", json={"accept_guidelines_version": 1})
    assert response.status_code == 403


@pytest.mark.parametrize("url", ["/pilot", "/me/features", "/api/pilot/offers"])
def test_pilot_pages_need_a_signed_in_user(app, url):
    from fastapi.testclient import TestClient

    assert TestClient(app, follow_redirects=False).get(url).status_code in (303, 401)


def test_my_features_explains_now_and_coming(app, demo, database_url):
    open_gates(database_url, demo.key)
    hr = sign_in(app, "hr-1", "member")
    hr.client.post("/login", data={"user": "hr-1", "role": "member", "department": "HR", "csrf_token": hr.csrf})
    page = hr.get("/me/features").text
    assert "Now" in page and "Coming" in page
    assert "Communities" in page.split("<h2>Coming</h2>")[1]  # 'general' starts Feb 2027
    assert "cohort “HR”" in page and "gate" not in page.split("<h2>Coming</h2>")[1]


def test_my_features_says_what_waits_for_a_gate(app, demo):
    hr = sign_in(app, "hr-2", "member")
    hr.client.post("/login", data={"user": "hr-2", "role": "member", "department": "HR", "csrf_token": hr.csrf})
    coming = hr.get("/me/features").text.split("<h2>Coming</h2>")[1]
    microblog = coming.split("<strong>Microblog</strong>")[1].split("</li>")[0]
    assert "Wave 1&#39;s gate opens" in microblog and "07 Dec 2026" in microblog
