"""A plan's phases as they stand, and a lead's hold, resume, start now and roll back.

An action is stored with an audit entry in one transaction, then written to Unleash at once: one segment
write per phase whose window changed (flags.reconcile.prepare_phases), whatever the plan's size. When
Unleash cannot be reached the action stands and says so; the controller writes it on its next round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flags.desired import NEVER, phase_segment_name
from flags.diff import normal_constraint
from flags.errors import UnleashError
from flags.reconcile import execute, prepare_phases
from planner import approvals, audit, webhooks
from planner.db import session_scope
from planner.errors import PhaseActionRefused
from planner.lifecycle import (Action, Control, Controls, PhaseStatus, apply, control_of, effective_start, label,
                               opens_at, statuses, transitions)
from planner.model import Phase, Plan
from planner.optin import effective_members
from planner.phasecontrol import load_controls, record_status, recorded_statuses, save_controls
from planner.store import live_plan
from planner.syncruns import previous_fingerprints

REQUESTS = {Action.start: "start {} now", Action.resume: "resume {}"}  # what waits for a second lead
VERBS = {Action.hold: "held", Action.resume: "resumed", Action.start: "started early", Action.rollback: "rolled back"}
# the webhook event of each status a phase moves to (a move out of held or rolled back is a resume)
WEBHOOK_EVENTS = {PhaseStatus.scheduled: "phase.scheduled", PhaseStatus.active: "phase.started",
                  PhaseStatus.completed: "phase.completed", PhaseStatus.held: "phase.held",
                  PhaseStatus.rolled_back: "phase.rolled_back", PhaseStatus.gated: "phase.gated"}
EVENTS = {PhaseStatus.scheduled: "scheduled", PhaseStatus.active: "started", PhaseStatus.completed: "completed",
          PhaseStatus.held: "held", PhaseStatus.rolled_back: "rolled back", PhaseStatus.planned: "planned",
          PhaseStatus.gated: "waits for its gate"}


@dataclass(frozen=True)
class PhaseView:
    phase: Phase
    status: PhaseStatus
    starts: datetime  # the planned start, or when a lead started it early
    opens: datetime | None  # from when its segment is true; None: never while held or rolled back
    control: Control
    allowed: tuple[Action, ...] = ()  # the lead actions its state allows now
    unleash: str | None = None  # what Unleash holds for its segment, in words (None: not asked)

    @property
    def name(self) -> str:
        return label(self.phase)


@dataclass(frozen=True)
class ActionOutcome:
    plan: str
    phase: str
    action: Action
    writes: int
    changed: list[str]  # the names of the phases whose segment changed
    error: str | None = None  # Unleash could not be written: the action stands, the controller writes it
    pending: int | None = None  # four eyes: the request waiting for a second lead; nothing done yet

    def as_json(self) -> dict[str, Any]:
        return {"plan": self.plan, "phase": self.phase, "action": self.action.value, "writes": self.writes,
                "changed": self.changed, "error": self.error, "pending_approval": self.pending}


def written_phases(previous: dict[str, Any] | None, plan: Plan) -> set[str]:
    """The phases whose segment the last sync wrote (the others are only planned)."""
    names = set((previous or {}).get("segments", {}))
    return {p.key for p in plan.phases if phase_segment_name(plan.key, p.key) in names}


def _views(plan: Plan, controls: Controls, written: set[str], now: datetime,
           held: dict[str, str] | None = None) -> list[PhaseView]:
    now_statuses = statuses(plan, controls, at=now, written=written)
    opens = opens_at(plan, controls)
    return [PhaseView(p, now_statuses[p.key], effective_start(p, controls), opens[p.key], control_of(controls, p.key),
                      allowed_actions(plan, controls, p.key, now),
                      None if held is None else held.get(p.key, "nothing: the segment is missing"))
            for p in plan.phases]


def allowed_actions(plan: Plan, controls: Controls, phase: str, now: datetime) -> tuple[Action, ...]:
    """The actions the lifecycle accepts for `phase` now (the page offers these, and no others)."""
    allowed = []
    for action in (Action.start, Action.resume, Action.hold, Action.rollback):
        try:
            apply(plan, controls, action, phase, at=now, actor="", reason="asked")
        except PhaseActionRefused:
            continue
        allowed.append(action)
    return tuple(allowed)


def describe_segment(segment: dict[str, Any]) -> str:
    """What a phase segment in Unleash says, in words."""
    constraints = segment.get("constraints") or []
    if len(constraints) == 1 and normal_constraint(constraints[0]) == normal_constraint(NEVER):
        return "never true (held, rolled back or waiting for its gate)"
    if len(constraints) == 1 and constraints[0].get("operator") == "DATE_AFTER":
        try:  # the planner writes one millisecond before the start: Unleash's DATE_AFTER is strict
            start = datetime.fromisoformat(str(constraints[0].get("value")).replace("Z", "+00:00")) + timedelta(milliseconds=1)
        except ValueError:
            return f"true after {constraints[0].get('value')}"
        return f"true from {start.astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC"
    return f"{len(constraints)} constraint(s) not written by the planner (drift; the next sync restores it)"


def phase_list(*, database_url: str, key: str, now: datetime | None = None, admin=None) -> tuple[Plan, list[PhaseView]]:
    """Each phase with its status and start; with `admin`, also what Unleash holds for its segment."""
    now = now or datetime.now(UTC)
    with session_scope(database_url) as session:
        row, plan = live_plan(session, key)
        controls = load_controls(session, row.id)
        written = written_phases(previous_fingerprints(session, row.id), plan)
    held = None
    if admin is not None:
        names = {phase_segment_name(plan.key, p.key): p.key for p in plan.phases}
        held = {names[s["name"]]: describe_segment(s) for s in admin.list_segments() if s.get("name") in names}
    return plan, _views(plan, controls, written, now, held)


def record_transitions(session, plan_id: int, plan: Plan, current: dict[str, PhaseStatus], *, actor: str,
                       reason: str = "") -> list[tuple[str, PhaseStatus | None, PhaseStatus]]:
    """Write each phase's status change since the last recorded one to the audit log, once: of two processes
    recording the same change, only the one whose compare-and-set moved it writes the entry."""
    moved = []
    recorded = recorded_statuses(session, plan_id)
    before = {key: PhaseStatus(value) for key, value in recorded.items() if value in PhaseStatus.__members__}
    for phase_key, old, new in transitions(before, current):
        if not record_status(session, plan_id, phase_key, recorded.get(phase_key, ""), new):
            continue
        phase = next(p for p in plan.phases if p.key == phase_key)
        why = f": {reason}" if reason else ""
        audit.record(session, action=f"phase.{new.value}", actor=actor, plan_id=plan_id,
                     summary=f"{label(phase)} {EVENTS[new]}{why}" + (f" (was {old.label})" if old else ""),
                     detail={"phase": phase_key, "from": old.value if old else None, "to": new.value, "reason": reason})
        interrupted = (PhaseStatus.held, PhaseStatus.rolled_back)
        event = "phase.resumed" if old in interrupted and new not in interrupted else WEBHOOK_EVENTS.get(new)
        if event:
            webhooks.enqueue(session, plan_id=plan_id, plan_key=plan.key, event=event,
                             data={"phase": phase_key, "name": label(phase), "from": old.value if old else None,
                                   "to": new.value, "by": actor, "reason": reason})
        moved.append((phase_key, old, new))
    return moved


def act(*, database_url: str, admin, key: str, phase: str, action: Action, actor: str, reason: str = "",
        now: datetime | None = None, approved_by: str | None = None) -> ActionOutcome:
    """Hold, resume, start now or roll back a phase, and write what changed to Unleash at once. With the plan's
    four eyes on, a start or resume (they widen access) is kept as a request for a second lead instead, unless
    `approved_by` names the lead who approved it; hold and roll back never wait."""
    now = now or datetime.now(UTC)
    with session_scope(database_url, serial=True) as session:
        row, plan = live_plan(session, key)
        controls = load_controls(session, row.id)
        new = apply(plan, controls, action, phase, at=now, actor=actor, reason=reason)  # refused now, not later
        if plan.four_eyes and not action.narrows and approved_by is None:
            target = next(p for p in plan.phases if p.key == phase)
            asked = approvals.request(session, plan_row=row, kind=action.value, phase=phase, reason=reason,
                                      actor=actor, summary=REQUESTS[action].format(label(target))
                                      + (f": {reason}" if reason else ""))
            return ActionOutcome(plan.key, phase, action, 0, [], pending=asked.id)
        if approved_by:
            reason = f"{reason} (approved by {approved_by})" if reason else f"approved by {approved_by}"
        save_controls(session, row.id, new)
        written = written_phases(previous_fingerprints(session, row.id), plan)
        target = next(p for p in plan.phases if p.key == phase)
        audit.record(session, action=f"phase.{action.value}", actor=actor, plan_id=row.id,
                     summary=f"{label(target)} {VERBS[action]}" + (f": {reason}" if reason else ""),
                     detail={"phase": phase, "reason": reason,
                             "affected": sorted(k for k in set(controls) | set(new) if controls.get(k) != new.get(k))})
        record_transitions(session, row.id, plan, statuses(plan, new, at=now, written=written), actor=actor,
                           reason=reason)
        members = effective_members(session, plan)[0]
    writes, changed, error = write_now(plan, new, members=members, admin=admin)
    return ActionOutcome(plan.key, phase, action, writes, changed, error=error)


def write_now(plan: Plan, controls: Controls, *, members, admin) -> tuple[int, list[str], str | None]:
    """Write the phases' segments that differ from `controls` to Unleash at once: (writes, the names of the
    segments changed, the error when Unleash could not be written; the controller then writes it later)."""
    counting = admin.counting()
    changed: list[str] = []
    try:
        sync = prepare_phases(plan, admin=counting, members=members, controls=controls)
        changed = [c.name for c in sync.diff.changes]
        execute(sync, admin=counting)
    except UnleashError as exc:
        return counting.writes, changed, (f"saved, but Unleash is not written yet ({exc}); the controller writes "
                                          "it as soon as Unleash answers")
    return counting.writes, changed, None
