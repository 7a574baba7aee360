"""/readyz against the real Unleash: not ready with a wrong admin token or while Unleash is away, with the reason
and never a token; ready with the real token, and again once Unleash is back."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from services.readiness import UnleashCheck
from services.settings import Settings
from tests.integration.slow_proxy import SlowProxy
from web.app import create_app

pytestmark = pytest.mark.integration


def app_with(database_url: str, url: str, admin_token: str):
    return create_app(settings=Settings(dev_login=True, session_secret="r" * 32, database_url=database_url,
                                        background=False, unleash_url=url, unleash_admin_token=admin_token,
                                        unleash_client_token=""))


def test_ready_with_the_admin_token_and_not_with_a_wrong_or_a_client_token(database_url, env):
    real = TestClient(app_with(database_url, env["UNLEASH_URL"], env["UNLEASH_ADMIN_TOKEN"])).get("/readyz")
    assert real.status_code == 200, real.text
    assert real.json() == {"ready": True, "checks": {"database": "ok", "migrations": "ok", "unleash": "ok"}}

    wrong = "*:*." + "0" * 56
    refused = TestClient(app_with(database_url, env["UNLEASH_URL"], wrong)).get("/readyz")
    assert refused.status_code == 503
    assert refused.json()["checks"]["unleash"].startswith("the admin token was refused (401)")

    client = TestClient(app_with(database_url, env["UNLEASH_URL"], env["UNLEASH_CLIENT_TOKEN"])).get("/readyz")
    assert client.status_code == 503 and "refused (403)" in client.json()["checks"]["unleash"]
    for answer in (real, refused, client):
        for token in (env["UNLEASH_ADMIN_TOKEN"], env["UNLEASH_CLIENT_TOKEN"], wrong):
            assert token.rsplit(".", 1)[1] not in answer.text


def test_not_ready_while_unleash_is_away_and_ready_again_once_it_is_back(database_url, env):
    proxy = SlowProxy(env["UNLEASH_URL"], delay=0.0)
    try:
        app = app_with(database_url, proxy.url_for(env["UNLEASH_URL"]), env["UNLEASH_ADMIN_TOKEN"])
        app.state.unleash_check = UnleashCheck(app.state.admin, ttl=0.2)  # the same check, asked more often
        client = TestClient(app)
        assert client.get("/readyz").status_code == 200
        proxy.cut()
        time.sleep(0.3)
        away = client.get("/readyz")
        assert away.status_code == 503 and away.json()["checks"]["unleash"].startswith("unreachable")
        proxy.resume()
        time.sleep(0.3)
        back = client.get("/readyz")
        assert back.status_code == 200, back.text
    finally:
        proxy.close()
