"""Gates: a gated phase stays shut in Unleash (its segment never true) until each KPI of its gate passes.

The controller checks the gates of every plan each round (`check`): a verdict that changed is written to the
audit log and told to the webhooks (`gate.verdict_changed`), once; a gate that passed opens its phase, which
then starts at its start, or at once when that has passed. A lead may override a verdict with a reason
(`override`); with four eyes on, a second lead approves it first. If the planner is down when a gated
phase's start comes, nothing opens it: the phase waits, the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from planner import approvals, audit, webhooks
from planner.db import session_scope
from planner.errors import PhaseActionRefused
from planner.kpidata import observe
from planner.kpis import GateVerdict, Outcome, gate, verdict, window
from planner.lifecycle import Controls, control_of, effective_start, label, open_gate, planned_start, statuses
from planner.model import Plan
from planner.optin import effective_members
from planner.phasecontrol import load_controls, record_verdict, recorded_verdicts, save_controls
from planner.store import live_plan
from planner.syncruns import previous_fingerprints
from services.phases import record_transitions, write_now, written_phases

ACTOR = "controller"


def verdicts(session: Session, plan_id: int, plan: Plan, controls: Controls, *, now: datetime) -> dict[str, GateVerdict]:
    """Each gated phase's gate verdict at `now`: its KPIs over their windows, which end at the phase's start."""
    starts = {p.key: effective_start(p, controls) for p in plan.phases}
    kpis = {k.key: k for k in plan.kpis}
    result = {}
    for phase in plan.phases:
        if not phase.gate:
            continue
        end = planned_start(phase, controls)
        judged = []
        for key in phase.gate:
            win = window(kpis[key], plan, end=end, starts=starts)
            judged.append(verdict(kpis[key], observe(session, plan_id, plan, kpis[key], win), win, now=now))
        result[phase.key] = gate(phase.key, judged)
    return result


def check(*, database_url: str, key: str, now: datetime | None = None) -> list[str]:
    """One look at the plan's shut gates: record verdicts that changed, open the gates that passed. Returns
    what happened, in words (empty when nothing did)."""
    now = now or datetime.now(UTC)
    happened: list[str] = []
    with session_scope(database_url, serial=True) as session:
        row, plan = live_plan(session, key)
        controls = load_controls(session, row.id)
        shut = [p for p in plan.phases if p.gate and not control_of(controls, p.key).gate]
        if not shut:
            return happened
        found = verdicts(session, row.id, plan, controls, now=now)
        recorded = recorded_verdicts(session, row.id)
        opened = dict(controls)
        for phase in shut:
            judged = found[phase.key]
            before = recorded.get(phase.key, "")
            if judged.outcome.value != before and record_verdict(session, row.id, phase.key, before,
                                                                 judged.outcome.value, judged.text):
                name = label(phase)
                audit.record(session, action="gate.verdict", actor=ACTOR, plan_id=row.id,
                             summary=f"{name}'s gate: {judged.outcome.value}" + (f" (was {before})" if before else "")
                             + f". {judged.text}",
                             detail={"phase": phase.key, "from": before or None, "to": judged.outcome.value,
                                     "kpis": {v.kpi.key: v.outcome.value for v in judged.verdicts}})
                webhooks.enqueue(session, plan_id=row.id, plan_key=plan.key, event="gate.verdict_changed",
                                 data={"phase": phase.key, "name": name, "from": before or None,
                                       "to": judged.outcome.value, "why": judged.text})
                happened.append(f"{name}: {judged.outcome.value}")
            if judged.outcome is Outcome.passed:
                opened = open_gate(plan, opened, phase.key, at=now, how="passed", actor=ACTOR)
                _opened_entry(session, row.id, plan, phase.key, opened, now=now, by=ACTOR, why=judged.text)
                happened.append(f"{label(phase)} opened")
        if opened != controls:
            save_controls(session, row.id, opened)
            written = written_phases(previous_fingerprints(session, row.id), plan)
            record_transitions(session, row.id, plan, statuses(plan, opened, at=now, written=written), actor=ACTOR)
    return happened


def _opened_entry(session: Session, plan_id: int, plan: Plan, phase_key: str, controls: Controls, *,
                  now: datetime, by: str, why: str, overridden: bool = False) -> None:
    phase = plan.phase(phase_key)
    start = effective_start(phase, controls)
    when = "starts now" if start <= now else f"starts {start.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    what = "overridden" if overridden else "passed"
    audit.record(session, action=f"gate.{what}", actor=by, plan_id=plan_id,
                 summary=f"{label(phase)}'s gate {what}: {why}; it {when}",
                 detail={"phase": phase_key, "starts": start.isoformat(), "why": why})


@dataclass(frozen=True)
class OverrideOutcome:
    plan: str
    phase: str
    writes: int = 0
    changed: tuple[str, ...] = ()
    error: str | None = None
    pending: int | None = None  # four eyes: the request waiting for a second lead

    def as_json(self) -> dict[str, Any]:
        return {"plan": self.plan, "phase": self.phase, "action": "override", "writes": self.writes,
                "changed": list(self.changed), "error": self.error, "pending_approval": self.pending}


def override(*, database_url: str, admin, key: str, phase: str, actor: str, reason: str,
             now: datetime | None = None, approved_by: str | None = None) -> OverrideOutcome:
    """Open a phase's gate whatever its verdict, with the lead's reason, and write it to Unleash at once.
    With four eyes on, it is kept as a request for a second lead instead, unless `approved_by` names them."""
    now = now or datetime.now(UTC)
    with session_scope(database_url, serial=True) as session:
        row, plan = live_plan(session, key)
        controls = load_controls(session, row.id)
        # refused now (no gate, open already, no reason), before anything is asked of a second lead
        opened = open_gate(plan, controls, phase, at=now, how="overridden", actor=actor,
                           reason=f"{reason} (approved by {approved_by})" if approved_by else reason)
        if plan.four_eyes and approved_by is None:
            asked = approvals.request(session, plan_row=row, kind="override", phase=phase, reason=reason,
                                      actor=actor, summary=f"override {label(plan.phase(phase))}'s gate: {reason}")
            return OverrideOutcome(plan.key, phase, pending=asked.id)
        verdict_now = verdicts(session, row.id, plan, controls, now=now)[phase]
        why = f"{reason} (the verdict was {verdict_now.outcome.value}"
        why += f", approved by {approved_by})" if approved_by else ")"
        save_controls(session, row.id, opened)
        _opened_entry(session, row.id, plan, phase, opened, now=now, by=actor, why=why, overridden=True)
        written = written_phases(previous_fingerprints(session, row.id), plan)
        record_transitions(session, row.id, plan, statuses(plan, opened, at=now, written=written), actor=actor,
                           reason=reason)
        members = effective_members(session, plan)[0]
    writes, changed, error = write_now(plan, opened, members=members, admin=admin)
    return OverrideOutcome(plan.key, phase, writes, tuple(changed), error)


def refused_override(plan: Plan, controls: Controls, phase: str, now: datetime) -> str | None:
    """Why the lead's override of `phase`'s gate cannot be, or None (the page offers it only then)."""
    try:
        open_gate(plan, controls, phase, at=now, how="overridden", actor="", reason="asked")
    except PhaseActionRefused as exc:
        return str(exc)
    return None
