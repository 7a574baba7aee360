"""Only leads reach the planning pages; identity headers only from the trusted proxy; CSRF on every post."""

from fastapi.testclient import TestClient

from web.app import create_app
from services.settings import Settings


def test_anonymous_visitors_are_sent_to_the_sign_in(app):
    response = TestClient(app, follow_redirects=False).get("/plans")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert TestClient(app).get("/api/plans").status_code == 401


def test_a_pilot_user_cannot_reach_lead_pages_or_lead_api(member, demo):
    for url in ("/plans", f"/plans/{demo.key}", f"/plans/{demo.key}/sync", "/audit", "/api/plans"):
        assert member.get(url).status_code == 403, url
    assert member.post("/plans", {"key": "mine"}).status_code == 403


def test_posts_without_the_csrf_token_are_refused(lead, demo):
    refused = lead.client.post("/plans", data={"key": "x"}, headers={"HX-Request": "true"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = lead.client.post("/plans", data={"key": "x", "csrf_token": "forged"})
    assert wrong.status_code == 403


def test_identity_header_is_trusted_only_from_the_proxy(database_url, demo):
    config = Settings(session_secret="s" * 32, trusted_proxies=["10.9.9.9/32"], database_url=database_url)
    app = create_app(settings=config)
    lead_headers = {"X-Forwarded-User": "anna", "X-Forwarded-Groups": "staff, planner-leads"}
    from_proxy = TestClient(app, client=("10.9.9.9", 40000))
    assert from_proxy.get("/api/plans", headers=lead_headers).status_code == 200
    assert from_proxy.get("/api/plans", headers={"X-Forwarded-User": "bob", "X-Forwarded-Groups": "staff"}).status_code == 403
    forged = TestClient(app, client=("10.9.9.8", 40000)).get("/api/plans", headers=lead_headers)
    assert forged.status_code == 403 and "only accepted from the SSO proxy" in forged.text


def test_without_dev_login_a_session_secret_is_required():
    import pytest

    from services.settings import SettingsInvalid

    with pytest.raises(SettingsInvalid, match="PLANNER_SESSION_SECRET"):
        create_app(settings=Settings(dev_login=False, session_secret=""))
