"""Smoke: the real web app, served by `planner serve`, opens in headless Chromium."""

from __future__ import annotations

import json

from tests.browser import screenshot


def test_health_page_shows_the_status_json(page, live_server):
    response = page.goto(live_server / "health")
    assert response is not None and response.status == 200
    # Chromium shows a JSON response as text in the page
    status = json.loads(page.locator("body").inner_text())
    assert status["status"] in ("ok", "degraded")
    assert status["database_revision"], status  # `planner db upgrade` ran on the server's database
    assert status["database_error"] is None
    assert "token" not in page.content().lower()


def test_docs_page_shows_the_api_title(page, live_server):
    response = page.goto(live_server / "docs")
    assert response is not None and response.status == 200
    assert page.title() == "Rollout planner - Swagger UI"
    # Swagger UI, served by the planner from its pinned copy, renders the API from /openapi.json
    title = page.locator(".information-container .title")
    title.wait_for()
    assert title.inner_text().startswith("Rollout planner")
    page.locator(".opblock-summary-path", has_text="/health").first.wait_for()
    path = screenshot(page, "docs")
    assert path.stat().st_size > 0
    assert page.blocked_requests == []
