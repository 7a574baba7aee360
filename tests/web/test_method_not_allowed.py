"""A method a route does not take: 405 with an Allow header naming the methods the path does take (RFC 9110),
for scripts (JSON) and browsers (the error page) alike, and nothing of the planner's insides."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import sign_in


def assert_plain_405(response, allow: str) -> None:
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert "Traceback" not in response.text and ".py" not in response.text
    assert "q" * 32 not in response.text  # quiet_app's session secret


def test_patch_on_a_get_only_api_route(quiet_app):
    lead = sign_in(quiet_app, "lead-1", "lead")
    response = lead.client.patch("/api/plans/demo", json={"title": "x"}, headers={"X-CSRF-Token": lead.csrf})
    assert_plain_405(response, "GET")
    assert response.json() == {"detail": "Method Not Allowed"}
    assert lead.csrf not in response.text


def test_no_identity_gets_the_405_too(quiet_app):
    # routing answers before anyone is asked to sign in: the method is wrong whoever asks
    assert_plain_405(TestClient(quiet_app).patch("/api/plans"), "GET")


def test_allow_names_every_method_of_the_path(quiet_app):
    # GET and POST /api/plans/{key}/syncs are two routes; Starlette's own 405 named the first one's only
    assert_plain_405(TestClient(quiet_app).delete("/api/plans/demo/syncs"), "GET, POST")


def test_the_error_page_keeps_the_allow_header(quiet_app):
    response = TestClient(quiet_app).patch("/health", headers={"Accept": "text/html"})
    assert_plain_405(response, "GET")
    assert response.headers["content-type"].startswith("text/html")
