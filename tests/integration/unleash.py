"""Helpers for tests against the real Unleash server started by `make unleash`."""

from __future__ import annotations

import os
import time
import uuid

import httpx
import pytest
from UnleashClient import UnleashClient

from flags.admin import UnleashAdmin


def unleash_env(*, module_level: bool = False) -> dict[str, str]:
    """The dev server's URL and tokens; without them a test (or with `module_level`, a whole module) is
    skipped, and under CI fails: CI must run the integration tests."""
    names = ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN")
    env = {n: os.environ.get(n, "") for n in names}
    if not all(env.values()):
        if os.environ.get("CI") == "true":
            pytest.fail("the Unleash test server is not configured; run the tests with `make test`", pytrace=False)
        pytest.skip("no Unleash server configured (run `make unleash` and export its lines)",
                    allow_module_level=module_level)
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


# plan keys the tests make (unique(...) suffixes); anything else on the server — the demo plan, a
# developer's own plans, a benchmark running beside — is not the tests' to remove
TEST_PLAN = r"(sync|truth|cli|push|pilot|journey|jobs|phase|ctl)-[0-9a-f]{6,8}"


def remove_test_plans(admin: UnleashAdmin, *, environments=("development", "production")) -> int:
    """Take every plan the tests synced out of Unleash, with the planner's own reconciler: an empty plan
    of the same key archives its flags and deletes its segments (Unleash allows 300 segments in all, so
    test runs must not leave theirs behind). Archived flags count toward no limit and stay archived:
    deleting one at once can crash Unleash 8.2 (see test_admin_client_live)."""
    import re

    from flags.reconcile import execute, prepare
    from planner.model import Plan, UnleashBinding

    keys = set()
    for flag in admin.list_features("default"):
        match = re.search(rf"\[managed by rollout planner: ({TEST_PLAN})\]", flag.get("description") or "")
        if match:
            keys.add(match.group(1))
    keys |= {match.group(1) for s in admin.list_segments() if (match := re.match(rf"rp:({TEST_PLAN}):", s["name"]))}
    for key in sorted(keys):
        for environment in environments:
            execute(prepare(Plan(plan=key, unleash=UnleashBinding(environment=environment)), admin=admin), admin=admin)
    return len(keys)
