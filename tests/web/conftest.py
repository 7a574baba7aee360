"""A web app on a fresh database, and clients signed in through the development sign-in."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from planner.db import session_scope
from planner.plans import apply_plan
from tests.plans import demo_plan
from web.app import create_app
from services.settings import Settings


@pytest.fixture
def app(database_url):
    # no controller: it would sync each test's demo plan to the shared Unleash (tests/integration test it)
    return create_app(settings=Settings(dev_login=True, session_secret="test-secret-" + "x" * 20,
                                        database_url=database_url, controller=False))


@pytest.fixture
def demo(database_url):
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=demo_plan(), actor="seed")
    return demo_plan()


@pytest.fixture
def quiet_app(database_url):
    """The app with the demo plan and no Unleash credentials: what runs here must never write to the real
    Unleash (syncs answer 503), whatever it is asked."""
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=demo_plan(), actor="seed")
    return create_app(settings=Settings(dev_login=True, session_secret="q" * 32, database_url=database_url,
                                        unleash_admin_token="", unleash_client_token="", background=False))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browserish:
    """A TestClient that remembers the page's CSRF token, as a browser with htmx would send it."""

    def __init__(self, client: TestClient):
        self.client = client
        self.csrf = csrf_of(client.get("/login").text)

    def get(self, url, htmx=False, **kw):
        return self.client.get(url, headers={"HX-Request": "true"} if htmx else {}, **kw)

    def post(self, url, data=None, htmx=True, **kw):
        headers = {"X-CSRF-Token": self.csrf, **({"HX-Request": "true"} if htmx else {})}
        return self.client.post(url, data=data, headers=headers, **kw)


def sign_in(app, user: str, role: str) -> Browserish:
    client = TestClient(app, follow_redirects=False)
    b = Browserish(client)
    response = client.post("/login", data={"user": user, "role": role, "csrf_token": b.csrf})
    assert response.status_code == 303
    return b


@pytest.fixture
def lead(app):
    return sign_in(app, "lead-1", "lead")


@pytest.fixture
def member(app):
    return sign_in(app, "u-7", "member")
