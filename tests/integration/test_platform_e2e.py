"""End to end on the real Unleash: a user opts in through the planner, and the example platform serves
the feature's page to that user — within its refresh interval plus 2 s — and refuses it to another."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from planner.db import session_scope
from planner.optin_batch import join
from planner.planfile import dump_plan, load_plan
from planner.plans import apply_plan
from tests.integration.unleash import admin_client, unique, unleash_env
from tests.plans import DEMO, ROOT
from services.membership_push import MembershipPusher
from services.sync import sync_plan

pytestmark = pytest.mark.integration
REFRESH = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def plan(tmp_path):
    key = unique("pilot-")
    return load_plan(DEMO.read_text().replace("plan: intranet-rollout", f"plan: {key}\nflag_prefix: {key}-"))


@pytest.fixture
def platform(plan, tmp_path):
    env = unleash_env()
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(dump_plan(plan))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.platform.app:create_app", "--factory", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, **env, "PLATFORM_PLAN_FILE": str(plan_file), "PLATFORM_REFRESH_INTERVAL": str(REFRESH)})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the example platform did not start:\n" + process.stdout.read().decode())
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=10)


def as_user(base: str, user: str, **attributes) -> httpx.Client:
    client = httpx.Client(base_url=base)
    client.post("/signin", data={"user": user, **attributes})
    return client


def test_an_opt_in_opens_the_page_for_that_user_only(database_url, plan, platform):
    env = unleash_env()
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="lead")
    with admin_client(env) as admin:
        assert sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead").outcome == "ok"
        alice, bob = as_user(platform, "alice"), as_user(platform, "bob", department="Sales")
        assert alice.get("/features/wiki").status_code == 404
        with session_scope(database_url) as session:
            join(session=session, plan_key=plan.key, cohort_key="pilot", user="alice", accepted_version=1)
        MembershipPusher(database_url=database_url, admin=admin).push_once()
    in_unleash = time.monotonic()
    while alice.get("/features/wiki").status_code != 200:
        assert time.monotonic() - in_unleash < REFRESH + 2, "the platform did not open the page in time"
        time.sleep(0.1)
    elapsed = time.monotonic() - in_unleash
    page = alice.get("/features/wiki")
    assert "Onboarding checklist" in page.text
    assert "Wiki" in alice.get("/").text  # the home page lists it
    refused = bob.get("/features/wiki")
    assert refused.status_code == 404 and "not available to you yet" in refused.text
    health = httpx.get(f"{platform}/health").json()
    assert health["status"] == "ok" and health["flags"]["source"] == "unleash"
    print(f"opt-in visible on the platform {elapsed:.2f} s after it reached Unleash")


def test_a_feature_added_in_the_planner_appears_on_the_platform_without_a_restart(database_url, tmp_path):
    """The platform reads the plan from the planner (flags.plan_source): a new feature's page exists once it is
    synced; with the planner stopped the last copy stays."""
    from datetime import UTC, datetime, timedelta

    from services.tokens import create_token
    from tests.serving import planner_serve

    env = unleash_env()
    key = unique("pilot-")
    started = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()

    def plan_with(*features: str):
        listed = ", ".join(f"{{key: {f}, name: {f.title()}}}" for f in features)
        return load_plan(f"""
plan: {key}
flag_prefix: {key}-
unleash: {{project: default, environment: development}}
features: [{listed}]
cohorts: [{{key: all, kind: everyone}}]
phases: [{{key: general, starts: "{started}", cohorts: [all], features: [{", ".join(features)}]}}]
""")

    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan_with("wiki"), actor="lead")
    token = create_token(database_url=database_url, name="intranet", actor="lead")[1]
    with admin_client(env) as admin:
        assert sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="lead").outcome == "ok"
        served = {"PLANNER_DATABASE_URL": database_url, "PLANNER_DEV_LOGIN": "true"}
        with planner_serve(served) as (planner, planner_base):
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "examples.platform.app:create_app", "--factory", "--port",
                 str(port), "--log-level", "warning"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, **env, "PLATFORM_PLANNER_URL": planner_base, "PLATFORM_PLANNER_TOKEN": token,
                     "PLATFORM_PLAN": key, "PLATFORM_PLAN_INTERVAL": "1", "PLATFORM_REFRESH_INTERVAL": "1",
                     "PLATFORM_PLAN_CACHE": str(tmp_path / "plan-cache.json")})
            try:
                base = f"http://127.0.0.1:{port}"
                wait_until(lambda: httpx.get(f"{base}/health").status_code == 200)
                alice = as_user(base, "alice")
                wait_until(lambda: alice.get("/features/wiki").status_code == 200)
                missing = alice.get("/features/forum")
                assert missing.status_code == 404 and "no such page" in missing.text
                with session_scope(database_url) as session:
                    apply_plan(session=session, plan=plan_with("wiki", "forum"), actor="lead")
                assert sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="lead").outcome == "ok"
                wait_until(lambda: alice.get("/features/forum").status_code == 200)  # no restart
                assert "Forum" in alice.get("/").text
                planner.send_signal(2)  # the planner stops: the platform keeps its last copy of the plan
                planner.wait(timeout=30)
                wait_until(lambda: httpx.get(f"{base}/health").json()["plan"]["last_error"] is not None)
                assert alice.get("/features/forum").status_code == 200
                assert (tmp_path / "plan-cache.json").exists()
            finally:
                process.terminate()
                process.wait(timeout=10)


def wait_until(condition, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.2)
