"""Helpers for tests against the real Unleash server started by `make unleash`."""

from __future__ import annotations

import os
import time
import uuid

import httpx
import pytest
from UnleashClient import UnleashClient

from flags.admin import UnleashAdmin


def unleash_env() -> dict[str, str]:
    names = ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN")
    env = {n: os.environ.get(n, "") for n in names}
    if not all(env.values()):
        if os.environ.get("CI") == "true":
            pytest.fail("the Unleash test server is not configured; run the tests with `make test`")
        pytest.skip("no Unleash server configured (run `make unleash` and export its lines)")
    return env


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def client_payload(env: dict[str, str]) -> dict:
    """What the SDKs see right now: the client API's answer (with global segments, as SDKs ask for it)."""
    response = httpx.get(env["UNLEASH_URL"].rstrip("/") + "/client/features", timeout=10,
                         headers={"Authorization": env["UNLEASH_CLIENT_TOKEN"], "Unleash-Client-Spec": "5.1.0"})
    response.raise_for_status()
    return response.json()


def client_features(env: dict[str, str]) -> dict[str, dict]:
    """The client API's flags by name."""
    return {f["name"]: f for f in client_payload(env)["features"]}


def wait_for_client_api(env, predicate, timeout: float = 15.0) -> dict[str, dict]:
    """Poll the client API until `predicate(features)` holds: the server publishes writes about once a second."""
    deadline = time.monotonic() + timeout
    while True:
        features = client_features(env)
        if predicate(features):
            return features
        if time.monotonic() > deadline:
            raise AssertionError("the client API did not show the synced state in time")
        time.sleep(0.2)


def sdk_client(env, tmp_path, refresh_interval: int = 1) -> UnleashClient:
    client = UnleashClient(url=env["UNLEASH_URL"], app_name=unique("planner-test-"), refresh_interval=refresh_interval,
                           disable_metrics=True, disable_registration=True, cache_directory=str(tmp_path),
                           custom_headers={"Authorization": env["UNLEASH_CLIENT_TOKEN"]})
    client.initialize_client()
    return client


def admin_client(env) -> UnleashAdmin:
    return UnleashAdmin(env["UNLEASH_URL"], env["UNLEASH_ADMIN_TOKEN"])
