"""The controller on the real Unleash: edits reach the SDKs with no manual sync, status changes are recorded
once even with two controllers, a killed round converges, drift is restored, `review` waits for a lead."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from flags.admin import normalise_strategy
from planner.db import session_scope
from planner.planfile import load_plan
from planner.plans import apply_plan
from planner.store import plan_row
from planner.tables import AuditRow, PlanRow
from services.controller import Controller
from services.sync import LeaseTiming, sync_plan
from tests.integration.test_sync_jobs import big_plan, killed_mid_sync, wait_for
from tests.integration.unleash import client_features, unique, wait_for_client_api

pytestmark = pytest.mark.integration


def plan_text(key: str, prefix: str, *, starts: list[datetime], sync: str = "auto", extra_feature: bool = False) -> str:
    features = "[{key: blog}, {key: wiki}" + (", {key: forum}" if extra_feature else "") + "]"
    pilot_features = "[blog, wiki" + (", forum" if extra_feature else "") + "]"
    return f"""
plan: {key}
flag_prefix: {prefix}
sync: {sync}
unleash: {{project: default, environment: development}}
features: {features}
cohorts:
  - {{key: champions, kind: list, users: [c-1, c-2]}}
  - {{key: all, kind: everyone}}
phases:
  - {{key: pilot, name: Pilot, starts: "{starts[0].isoformat(timespec='seconds')}", cohorts: [champions], features: {pilot_features}}}
  - {{key: general, name: General, starts: "{starts[1].isoformat(timespec='seconds')}", cohorts: [all]}}
"""


def apply(database_url, text):
    plan = load_plan(text)
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="lead-1")
    return plan


def audit(database_url, key, action):
    with session_scope(database_url) as session:
        row = plan_row(session, key)
        return list(session.exec(select(AuditRow).where(AuditRow.plan_id == row.id, AuditRow.action == action)))


def plan_state(database_url, key) -> PlanRow:
    with session_scope(database_url) as session:
        return plan_row(session, key)


def test_an_edit_reaches_the_client_api_with_no_manual_sync(database_url, admin, env):
    key, prefix = unique("ctl-"), unique("ct") + "-"
    now = datetime.now(UTC)
    apply(database_url, plan_text(key, prefix, starts=[now - timedelta(hours=1), now + timedelta(days=3)]))
    controller = Controller(database_url=database_url, admin=admin, interval=1.0, drift_every=300)
    controller.start()
    try:
        wait_for_client_api(env, lambda f: f"{prefix}blog" in f, timeout=30)  # the first round synced it
        edited = time.monotonic()
        apply(database_url, plan_text(key, prefix, starts=[now - timedelta(hours=1), now + timedelta(days=3)],
                                      extra_feature=True))
        wait_for_client_api(env, lambda f: f"{prefix}forum" in f, timeout=30)
        took = time.monotonic() - edited
    finally:
        controller.stop()
    print(f"edit to client API: {took:.2f} s (controller interval 1 s)")
    assert plan_state(database_url, key).sync_state == "in_sync"
    synced = audit(database_url, key, "plan.sync")
    assert {e.actor for e in synced} == {"controller"} and len(synced) == 2  # the first sync and the edit's
    assert [e.summary for e in audit(database_url, key, "phase.active")] == ["Pilot started"]
    assert [e.summary for e in audit(database_url, key, "phase.scheduled")] == ["General scheduled"]


def test_two_controllers_at_once_make_no_double_transition_and_no_duplicate_object(database_url, admin):
    key, prefix = unique("ctl-"), unique("ct") + "-"
    now = datetime.now(UTC)
    apply(database_url, plan_text(key, prefix, starts=[now + timedelta(seconds=3), now + timedelta(days=3)]))
    first, second = (Controller(database_url=database_url, admin=admin, interval=0.5, drift_every=1.0)
                     for _ in range(2))
    led: list[bool] = []

    def rounds(controller):
        end = time.monotonic() + 6
        while time.monotonic() < end:
            led.append(controller.round().led)
            time.sleep(0.2)

    threads = [threading.Thread(target=rounds, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert True in led and False in led  # one led, the other waited
    assert [e.summary for e in audit(database_url, key, "phase.active")] == ["Pilot started (was scheduled)"]
    assert len(audit(database_url, key, "phase.scheduled")) == 2  # Pilot, then General; each once
    names = [s["name"] for s in admin.list_segments() if s["name"].startswith(f"rp:{key}:")]
    assert sorted(names) == sorted(set(names)) and len(names) == 3  # champions, pilot, general
    for flag in (f"{prefix}blog", f"{prefix}wiki"):
        titles = [s["title"] for s in admin.list_strategies("default", flag, "development")]
        assert sorted(titles) == sorted(set(titles))


def test_a_controller_killed_mid_round_leaves_nothing_the_next_round_does_not_converge(database_url, admin):
    plan = big_plan(60)
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="test")
    running = killed_mid_sync(database_url, plan.key, "tick")
    assert running.actor == "controller" and running.progress_done < running.progress_total
    timing = LeaseTiming(hold=timedelta(seconds=4), heartbeat=1)
    controller = Controller(database_url=database_url, admin=admin, interval=1.0, drift_every=300, timing=timing)
    report = wait_for(lambda: (r := controller.round()).led and r.plans and r.plans[0].synced and r, deadline=60,
                      what="the next controller to lead and converge")  # once the killed one's leases ran out
    assert 0 < report.plans[0].writes <= running.progress_total
    again = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test", timing=timing)
    assert again.outcome == "ok" and again.writes == 0


def test_drift_is_restored_and_reported(database_url, admin, env):
    key, prefix = unique("ctl-"), unique("ct") + "-"
    now = datetime.now(UTC)
    apply(database_url, plan_text(key, prefix, starts=[now - timedelta(hours=1), now + timedelta(days=3)]))
    controller = Controller(database_url=database_url, admin=admin, interval=1.0, drift_every=0.0)
    assert controller.round().led
    flag = f"{prefix}wiki"
    strategy = next(s for s in admin.list_strategies("default", flag, "development")
                    if s["title"] == f"rp:{key}:champions:1")
    edited = normalise_strategy(strategy)
    edited["parameters"]["rollout"] = "10"  # a hand edit in Unleash's UI
    admin.update_strategy("default", flag, "development", strategy["id"], edited)
    outcome = next(p for p in controller.round().plans if p.plan == key)
    assert outcome.state == "drift" and outcome.drift == 1 and outcome.synced and outcome.writes == 1
    restored = next(s for s in admin.list_strategies("default", flag, "development") if s["id"] == strategy["id"])
    assert restored["parameters"]["rollout"] == "100"
    state = plan_state(database_url, key)
    assert state.sync_state == "drift" and "1 hand edit(s) in Unleash restored" in state.sync_state_detail
    assert [e.actor for e in audit(database_url, key, "plan.drift")] == ["controller"]


def test_review_mode_waits_for_a_lead_and_counts_what_waits(database_url, admin, env):
    key, prefix = unique("ctl-"), unique("ct") + "-"
    now = datetime.now(UTC)
    apply(database_url, plan_text(key, prefix, starts=[now - timedelta(hours=1), now + timedelta(days=3)],
                                  sync="review"))
    controller = Controller(database_url=database_url, admin=admin, interval=1.0, drift_every=300)
    outcome = next(p for p in controller.round().plans if p.plan == key)
    assert outcome.state == "pending" and outcome.pending > 0 and not outcome.synced
    assert f"{prefix}blog" not in client_features(env)
    state = plan_state(database_url, key)
    assert (state.sync_state, state.pending_changes) == ("pending", outcome.pending)
    done = sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="lead-1")  # the lead's Apply
    assert done.outcome == "ok"
    outcome = next(p for p in controller.round().plans if p.plan == key)
    assert outcome.state == "in_sync" and plan_state(database_url, key).sync_state == "in_sync"
