"""Served counts of a flag, as the real Python SDK reports them to the real Unleash server."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from UnleashClient import UnleashClient

from flags.metrics import served_hours
from tests.integration.unleash import unique, wait_for_client_api

pytestmark = pytest.mark.integration

PROJECT = "default"
ENV = "development"  # the client token's environment: Unleash files the SDK's counts under it
METRICS_DEADLINE = 60.0


@pytest.fixture
def flag(admin):
    """A flag on for half of the users in development; archived afterwards (not deleted: see
    test_admin_client_live)."""
    name = unique("it-metrics-")
    admin.create_feature(PROJECT, name=name, description="metrics live test")
    admin.add_strategy(PROJECT, name, ENV, {
        "name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "default", "groupId": name}})
    admin.set_environment_enabled(PROJECT, name, ENV, True)
    yield name
    if name in {f["name"] for f in admin.list_features(PROJECT)}:
        admin.archive_feature(PROJECT, name)


@pytest.fixture
def start_sdk(env, tmp_path):
    """Start real UnleashClients that report metrics every second; destroyed afterwards."""
    started: list[UnleashClient] = []

    def start(app_name: str, instance_id: str) -> UnleashClient:
        client = UnleashClient(
            url=env["UNLEASH_URL"], app_name=app_name, instance_id=instance_id, refresh_interval=1,
            metrics_interval=1, disable_registration=True, cache_directory=str(tmp_path / instance_id),
            custom_headers={"Authorization": env["UNLEASH_CLIENT_TOKEN"]})
        client.initialize_client()  # fetches the flags before it returns
        started.append(client)
        return client

    yield start
    for client in started:
        client.destroy()


def served_per_app(admin, flag: str, apps, **window) -> dict[str, tuple[int, int]]:
    """(yes, no) per app of `apps` in development, over every hour of the window."""
    totals = {app: Counter() for app in apps}
    for hour in served_hours(admin, flag, **window):
        if hour.environment == ENV and hour.app in totals:
            totals[hour.app].update(yes=hour.yes, no=hour.no)
    return {app: (c["yes"], c["no"]) for app, c in totals.items() if c}


def wait_until_counted(admin, env, flag, start_sdk) -> float:
    """Seconds until Unleash stores served counts of the new `flag`, reported by a warm-up app.

    Unleash 8.2 checks reported flag names against a list of flag names it caches for 10 s
    (ClientMetricsServiceV2.cachedFeatureNames) and drops counts of names not on it: what is
    served within ~10 s of a flag's creation may never be counted."""
    started = time.monotonic()
    wait_for_client_api(env, lambda features: features.get(flag, {}).get("enabled"))
    app = unique("it-metrics-warmup-")
    warmup = start_sdk(app, "warmup")
    while not any(hour.app == app for hour in served_hours(admin, flag)):
        assert time.monotonic() - started < METRICS_DEADLINE, "Unleash never counted the new flag"
        warmup.is_enabled(flag, {"userId": "warmup"})
        time.sleep(0.2)
    return time.monotonic() - started


def test_what_the_sdk_served_shows_in_served_hours_per_app(admin, env, flag, start_sdk):
    warmup = wait_until_counted(admin, env, flag, start_sdk)
    print(f"\nthe new flag's counts were first stored {warmup:.2f} s after it was created")
    portal, mobile = unique("it-metrics-portal-"), unique("it-metrics-mobile-")
    # two instances of one app and one of another: each answers for its own users
    clients = [(portal, start_sdk(portal, "portal-1"), 120), (portal, start_sdk(portal, "portal-2"), 80),
               (mobile, start_sdk(mobile, "mobile-1"), 50)]
    began = datetime.now(UTC)
    expected = {portal: Counter(), mobile: Counter()}
    for app, client, users in clients:
        for i in range(users):
            answer = client.is_enabled(flag, {"userId": f"{client.unleash_instance_id}-u{i}"})
            expected[app].update(yes=int(answer), no=int(not answer))
    last_evaluation = time.monotonic()
    want = {app: (c["yes"], c["no"]) for app, c in expected.items()}
    assert all(yes and no for yes, no in want.values()), want  # a 50 % rollout answers both ways

    while (seen := served_per_app(admin, flag, want)) != want:
        assert time.monotonic() - last_evaluation < METRICS_DEADLINE, (
            f"after {METRICS_DEADLINE} s Unleash shows {seen}, the SDK served {want}")
        time.sleep(0.1)
    delay = time.monotonic() - last_evaluation
    print(f"served counts visible in the raw metrics {delay:.2f} s after the last evaluation")

    hours = served_hours(admin, flag)
    # one row per app and hour: the two portal instances add up in the portal's row
    assert len({(h.hour, h.app) for h in hours}) == len(hours)
    assert {h.environment for h in hours} == {ENV}
    assert {h.flag for h in hours} == {flag}
    current_hour = began.replace(minute=0, second=0, microsecond=0)
    assert all(current_hour - timedelta(hours=1) <= h.hour <= datetime.now(UTC) and h.hour.minute == 0
               for h in hours), hours
    # counts of the last minutes are in a 2-hour window too; that of 48 hours is the default
    assert served_hours(admin, flag, hours_back=2) == hours

    # an archived flag's counts stay readable for the copy
    admin.archive_feature(PROJECT, flag)
    assert served_per_app(admin, flag, want) == want


def test_a_flag_nobody_evaluated_has_no_served_hours(admin, flag):
    assert served_hours(admin, flag) == []


def test_a_flag_unleash_does_not_know_has_no_served_hours(admin):
    # Unleash answers 200 with no rows, as for a flag never evaluated: which flags exist is the caller's to know
    assert served_hours(admin, unique("it-metrics-no-such-flag-")) == []
    assert served_hours(admin, "it metrics/odd name?", hours_back=1) == []


SERVED_PLAN = """
plan: {key}
flag_prefix: {prefix}
unleash: {{project: default, environment: development}}
features: [{{key: blog}}, {{key: forum}}]
cohorts: [{{key: champions, kind: list, users: [c-1, c-2, c-3]}}, {{key: all, kind: everyone}}]
kpis: [{{key: blog-served, name: Blog served, source: unleash, feature: blog, target: ">= 30"}}]
phases:
  - {{key: pilot, starts: "2026-01-05T08:00:00+00:00", cohorts: [champions], features: [blog]}}
  - {{key: general, starts: "2031-01-05T08:00:00+00:00", cohorts: [all], features: [forum], gate: [blog-served]}}
"""


def test_the_controller_copies_what_the_sdk_served_into_an_unleash_kpi_and_its_gate_passes(
        admin, env, start_sdk, database_url):
    from planner.plans import apply_plan
    from planner.planfile import load_plan
    from planner.db import session_scope
    from services import dashboard
    from services.controller import Controller
    from services.sync import sync_plan

    plan = load_plan(SERVED_PLAN.format(key=unique("served-"), prefix=unique("sv") + "-"))
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="test")
    assert sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test").outcome == "ok"
    flag = plan.flag_name("blog")
    wait_until_counted(admin, env, flag, start_sdk)
    client = start_sdk(unique("it-served-"), "served-1")
    answers = [client.is_enabled(flag, {"userId": f"c-{i % 3 + 1}"}) for i in range(40)]
    assert all(answers)  # the champions have the blog since the pilot
    controller = Controller(database_url=database_url, admin=admin, drift_every=3600.0, metrics_every=0.0)
    deadline = time.monotonic() + METRICS_DEADLINE
    while True:
        controller.control_plan(plan.key)
        card = next(c for c in dashboard.board(database_url=database_url, key=plan.key).cards)
        unleash_total = sum(h.yes for h in served_hours(admin, flag) if h.environment == ENV)
        if card.verdict.value is not None and card.verdict.value >= 40 and card.verdict.value == unleash_total:
            break
        assert time.monotonic() < deadline, f"the KPI shows {card.verdict.value}, Unleash {unleash_total}"
        time.sleep(0.5)
    assert card.verdict.outcome.value == "pass"
    board = dashboard.board(database_url=database_url, key=plan.key)
    assert board.gates[0].opened == "passed"
    served = {name: yes for name, yes, _no in board.served}  # the adoption chart's served counts
    assert served == {"blog": int(card.verdict.value), "forum": 0}
