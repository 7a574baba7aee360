"""Gates on the real Unleash: a gated phase is written shut (its segment never true) until its gate passes;
pass, fail and inconclusive each give the right status and the right SDK answer at the phase's start; a
lead's override starts it, with an audit entry, and with four eyes on waits for a second lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from flags.desired import phase_segment_name
from planner.db import session_scope
from planner.lifecycle import PhaseStatus
from planner.planfile import load_plan
from planner.plans import apply_plan
from planner.store import plan_row
from planner.tables import AuditRow, WebhookDeliveryRow
from services import approvals, dashboard, gates, kpis, phases, webhooks
from services.controller import Controller
from services.sync import sync_plan
from tests.integration.test_phases import granted, iso, sdk  # noqa: F401 - sdk is a fixture
from tests.integration.test_phases import wait_for
from tests.integration.unleash import unique

pytestmark = pytest.mark.integration

PLAN = """
plan: {key}
flag_prefix: {prefix}
four_eyes: {four_eyes}
unleash: {{project: default, environment: development}}
features: [{{key: blog}}, {{key: forum}}]
cohorts:
  - {{key: champions, kind: list, users: [c-1, c-2]}}
  - {{key: hr, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}
kpis:
  - {{key: posts, name: Blog posts, unit: posts, source: event, target: ">= 5", window: since pilot}}
phases:
  - {{key: pilot, name: Pilot, starts: "{p0}", cohorts: [champions], features: [blog]}}
  - {{key: wave-1, name: Wave 1, starts: "{p1}", cohorts: [hr], features: [forum], gate: [posts]}}
"""
HR = ("h-1", "forum")


def gated_plan(database_url, admin, p0: datetime, p1: datetime, *, four_eyes: bool = False):
    plan = load_plan(PLAN.format(key=unique("gate-"), prefix=unique("gt") + "-", p0=iso(p0), p1=iso(p1),
                                 four_eyes=str(four_eyes).lower()))
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="test")
    result = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    assert result.outcome == "ok", result.error
    return plan


def post(database_url, plan, count: int, at: datetime, prefix: str = "e") -> kpis.Ingested:
    events = [{"kpi": "posts", "user": f"c-{i % 2 + 1}", "at": at.isoformat(), "idempotency_key": f"{prefix}-{i}"}
              for i in range(count)]
    return kpis.ingest(database_url=database_url, key=plan.key, payload=events)


def segment(admin, plan, phase: str) -> dict:
    return next(s for s in admin.list_segments() if s["name"] == phase_segment_name(plan.key, phase))


def status(database_url, plan, phase: str, at: datetime) -> PhaseStatus:
    views = phases.phase_list(database_url=database_url, key=plan.key, now=at)[1]
    return next(v.status for v in views if v.phase.key == phase)


def audited(database_url, action: str) -> list[AuditRow]:
    with session_scope(database_url) as session:
        return list(session.exec(select(AuditRow).where(AuditRow.action == action)))


def controller(database_url, admin) -> Controller:
    return Controller(database_url=database_url, admin=admin, drift_every=3600.0, metrics_every=3600.0)


def test_a_passing_gate_opens_its_phase_which_then_starts_at_its_start(database_url, admin, env, sdk):
    now = datetime.now(UTC)
    p1 = datetime(2031, 5, 4, 8, 0, tzinfo=UTC)
    plan = gated_plan(database_url, admin, now - timedelta(days=3), p1)
    assert phases.describe_segment(segment(admin, plan, "wave-1")).startswith("never true")
    post(database_url, plan, 5, now - timedelta(hours=1))
    report = controller(database_url, admin).control_plan(plan.key, now=now)
    assert report.gates == ["Wave 1: pass", "Wave 1 opened"], report
    assert phases.describe_segment(segment(admin, plan, "wave-1")) == "true from 2031-05-04 08:00 UTC"
    wait_for(lambda: HR in granted(sdk, plan, p1 + timedelta(seconds=1)))
    assert HR not in granted(sdk, plan, p1 - timedelta(seconds=1))
    assert status(database_url, plan, "wave-1", now) is PhaseStatus.scheduled
    (entry,) = audited(database_url, "gate.passed")
    assert "Wave 1's gate passed: Blog posts: 5 posts, 5 needed" in entry.summary and "starts 2031-05-04 08:00 UTC" in entry.summary


def test_an_inconclusive_gate_keeps_its_phase_shut_at_its_start(database_url, admin, env, sdk):
    now = datetime.now(UTC)
    p1 = datetime(2031, 5, 4, 8, 0, tzinfo=UTC)
    plan = gated_plan(database_url, admin, now - timedelta(days=3), p1)
    webhooks.add(database_url=database_url, key=plan.key, url="http://127.0.0.1:9/hooks", actor="test")
    post(database_url, plan, 3, now - timedelta(hours=1))
    report = controller(database_url, admin).control_plan(plan.key, now=now)
    assert report.gates == ["Wave 1: inconclusive"]
    assert phases.describe_segment(segment(admin, plan, "wave-1")).startswith("never true")
    wait_for(lambda: ("c-1", "blog") in granted(sdk, plan, p1 + timedelta(seconds=1)))  # the SDK has the plan
    assert HR not in granted(sdk, plan, p1 + timedelta(seconds=1))
    assert status(database_url, plan, "wave-1", p1 + timedelta(seconds=1)) is PhaseStatus.gated
    (card,) = dashboard.board(database_url=database_url, key=plan.key, now=now, charts=False).gates
    assert card.verdict.verdicts[0].text.startswith("3 posts of 5 needed, ")
    assert card.verdict.verdicts[0].text.endswith("days left: inconclusive")
    # the lead is told once, not every round: the audit log and the webhooks (the outbox holds the event)
    controller(database_url, admin).control_plan(plan.key, now=now + timedelta(seconds=5))
    post(database_url, plan, 1, now - timedelta(minutes=30), prefix="more")  # 4 of 5: still inconclusive
    controller(database_url, admin).control_plan(plan.key, now=now + timedelta(seconds=10))
    with session_scope(database_url) as session:
        told = [d for d in session.exec(select(WebhookDeliveryRow)) if d.event == "gate.verdict_changed"]
    assert len(told) == 1 and '"to": "inconclusive"' in told[0].body
    entries = [e for e in audited(database_url, "gate.verdict") if e.plan_id == card_plan_id(database_url, plan)]
    assert [e.summary.split(".")[0] for e in entries] == ["Wave 1's gate: inconclusive"]


def card_plan_id(database_url, plan) -> int:
    with session_scope(database_url) as session:
        return plan_row(session, plan.key).id


def test_a_failed_gate_keeps_its_phase_shut_and_an_override_starts_it_at_once(database_url, admin, env, sdk):
    now = datetime.now(UTC)
    plan = gated_plan(database_url, admin, now - timedelta(days=3), now - timedelta(hours=2))
    post(database_url, plan, 2, now - timedelta(hours=3))
    post(database_url, plan, 9, now - timedelta(hours=1), prefix="late")  # after the window ended: not counted
    report = controller(database_url, admin).control_plan(plan.key, now=now)
    assert report.gates == ["Wave 1: fail"]
    assert status(database_url, plan, "wave-1", now) is PhaseStatus.gated
    wait_for(lambda: ("c-1", "blog") in granted(sdk, plan, now))
    assert HR not in granted(sdk, plan, now)

    outcome = gates.override(database_url=database_url, admin=admin, key=plan.key, phase="wave-1", actor="lead-a",
                             reason="the blog moved to the new platform; posts are counted there")
    assert outcome.error is None and outcome.writes == 1
    wait_for(lambda: HR in granted(sdk, plan, datetime.now(UTC)))
    assert status(database_url, plan, "wave-1", datetime.now(UTC)) is PhaseStatus.active
    (entry,) = audited(database_url, "gate.overridden")
    assert entry.actor == "lead-a" and "the verdict was fail" in entry.summary and "starts now" in entry.summary


def test_with_four_eyes_an_override_waits_for_a_second_lead(database_url, admin, env, sdk):
    now = datetime.now(UTC)
    plan = gated_plan(database_url, admin, now - timedelta(days=3), now - timedelta(hours=2), four_eyes=True)
    controller(database_url, admin).control_plan(plan.key, now=now)
    asked = gates.override(database_url=database_url, admin=admin, key=plan.key, phase="wave-1", actor="lead-a",
                           reason="survey instead of posts")
    assert asked.pending is not None and asked.writes == 0
    assert phases.describe_segment(segment(admin, plan, "wave-1")).startswith("never true")
    with pytest.raises(approvals.ApprovalRefused):  # not by the lead who asked
        approvals.approve(database_url=database_url, admin=admin, key=plan.key, request_id=asked.pending, actor="lead-a")
    done = approvals.approve(database_url=database_url, admin=admin, key=plan.key, request_id=asked.pending,
                             actor="lead-b")
    assert done.outcome.writes == 1
    wait_for(lambda: HR in granted(sdk, plan, datetime.now(UTC)))
    (entry,) = audited(database_url, "gate.overridden")
    assert "approved by lead-b" in entry.summary
