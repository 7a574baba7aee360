"""Four eyes on the real Unleash: what widens access now waits for a second lead; narrowing never waits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from flags.desired import NEVER
from flags.diff import normal_constraint
from planner.approvals import ApprovalRefused
from planner.db import session_scope
from planner.errors import ApprovalPending
from planner.lifecycle import Action
from planner.planfile import load_plan
from planner.plans import apply_plan
from planner.tables import WebhookDeliveryRow
from services import approvals, editing, phases, plans, webhooks
from services.sync import sync_plan
from tests.integration.unleash import unique

pytestmark = pytest.mark.integration


def text(key: str, *, pilot_features: str = "[blog]") -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    return f"""
plan: {key}
flag_prefix: {key}-
four_eyes: true
unleash: {{project: default, environment: development}}
features: [{{key: blog}}, {{key: forum}}]
cohorts:
  - {{key: champions, kind: list, users: [c-1]}}
  - {{key: hr, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}
phases:
  - {{key: pilot, name: Pilot, starts: "{(now - timedelta(hours=1)).isoformat()}", cohorts: [champions], features: {pilot_features}}}
  - {{key: wave-1, name: Wave 1, starts: "{(now + timedelta(days=2)).isoformat()}", cohorts: [hr], features: [forum]}}
"""


def closed(admin, name: str) -> bool:
    segment = next(s for s in admin.list_segments() if s["name"] == name)
    return [normal_constraint(c) for c in segment["constraints"]] == [normal_constraint(NEVER)]


@pytest.fixture
def plan(database_url, admin):
    key = unique("phase-")
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=load_plan(text(key)), actor="lea")
    webhooks.add(database_url=database_url, key=key, url="http://127.0.0.1:9/hooks", actor="lea")
    assert sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="lea").outcome == "ok"
    return key


def test_an_edit_that_widens_an_active_phase_waits_for_a_second_lead(database_url, admin, plan):
    with pytest.raises(ApprovalPending) as waiting:
        editing.toggle_matrix(database_url=database_url, key=plan, phase="pilot", field="features", item="forum",
                              actor="lea", seen=None)
    assert "forum" not in plans.get_plan(database_url=database_url, key=plan).phases[0].features  # not yet
    request = waiting.value.request_id
    with pytest.raises(ApprovalRefused, match="a second lead must approve"):
        approvals.approve(database_url=database_url, admin=admin, key=plan, request_id=request, actor="lea")
    approvals.approve(database_url=database_url, admin=admin, key=plan, request_id=request, actor="ben")
    assert "forum" in plans.get_plan(database_url=database_url, key=plan).phases[0].features
    # narrowing, and changing only what comes later, never wait
    editing.toggle_matrix(database_url=database_url, key=plan, phase="pilot", field="features", item="forum",
                          actor="lea", seen=None)
    editing.toggle_matrix(database_url=database_url, key=plan, phase="wave-1", field="features", item="blog",
                          actor="lea", seen=None)
    assert [r.state for r in approvals.listing(database_url=database_url, key=plan)[1]] == ["approved"]
    with session_scope(database_url) as session:
        events = [json.loads(d.body)["event"] for d in session.exec(select(WebhookDeliveryRow))]
    assert events.count("approval.requested") == 1


def test_a_plan_file_that_widens_access_now_waits_too(database_url, plan):
    result = plans.apply_plan_text(database_url=database_url, text=text(plan, pilot_features="[blog, forum]"),
                                   actor="lea")
    assert result.pending and not result.changed
    assert approvals.listing(database_url=database_url, key=plan)[0][0].kind == "edit"


def test_hold_acts_at_once_and_resume_waits_for_a_second_lead(database_url, admin, plan):
    held = phases.act(database_url=database_url, admin=admin, key=plan, phase="wave-1", action=Action.hold,
                      actor="lea", reason="wait for the works council")
    assert held.pending is None and held.writes == 1 and closed(admin, f"rp:{plan}:phase:wave-1")
    resumed = phases.act(database_url=database_url, admin=admin, key=plan, phase="wave-1", action=Action.resume,
                         actor="lea", reason="the council agreed")
    assert resumed.pending and resumed.writes == 0 and closed(admin, f"rp:{plan}:phase:wave-1")
    done = approvals.approve(database_url=database_url, admin=admin, key=plan, request_id=resumed.pending, actor="ben")
    assert done.outcome.writes == 1 and not closed(admin, f"rp:{plan}:phase:wave-1")
    rolled = phases.act(database_url=database_url, admin=admin, key=plan, phase="pilot", action=Action.rollback,
                        actor="lea", reason="a leak")
    assert rolled.pending is None and closed(admin, f"rp:{plan}:phase:pilot")
    started = phases.act(database_url=database_url, admin=admin, key=plan, phase="pilot", action=Action.resume,
                         actor="lea")
    approvals.reject(database_url=database_url, key=plan, request_id=started.pending, actor="ben")
    assert closed(admin, f"rp:{plan}:phase:pilot")  # rejected: nothing done
