"""Four eyes: the changes waiting for a second lead, and approving (carrying them out) or rejecting them."""

from __future__ import annotations

from dataclasses import dataclass

from planner import approvals, audit
from planner.approvals import ApprovalRefused
from planner.db import session_scope
from planner.errors import PhaseActionRefused
from planner.lifecycle import Action
from planner.store import live_plan, write_plan
from planner.tables import ApprovalRow
from planner.validation import parse_plan
from services import gates, phases


@dataclass
class Decision:
    request: ApprovalRow
    outcome: phases.ActionOutcome | gates.OverrideOutcome | None = None  # an approved action, as carried out


def listing(*, database_url: str, key: str) -> tuple[list[ApprovalRow], list[ApprovalRow]]:
    """The plan's pending requests, and its latest ones in any state."""
    with session_scope(database_url) as session:
        row, _plan = live_plan(session, key)
        return approvals.pending(session, row.id), approvals.recent(session, row.id)


def approve(*, database_url: str, admin, key: str, request_id: int, actor: str) -> Decision:
    """Approve another lead's request and carry it out: an edit is written (if the plan has not changed since
    it was asked for; else it is stale and must be asked again), a start or resume is done and written to
    Unleash at once."""
    with session_scope(database_url, serial=True) as session:
        row, _plan = live_plan(session, key)
        asked = session.get(ApprovalRow, request_id)
        stale = (asked is not None and asked.plan_id == row.id and asked.state == "pending" and asked.kind == "edit"
                 and asked.base_version != row.version)
        if stale:
            asked.state = "stale"
            session.add(asked)
        else:
            request = approvals.decide(session, plan_id=row.id, request_id=request_id, actor=actor, approve=True)
            if request.kind == "edit":
                write_plan(session, parse_plan(request.document))
                audit.record(session, action="plan.edit", actor=request.requested_by, plan_id=row.id,
                             summary=f"{request.summary} (approved by {actor})", detail={"request": request.id})
    if stale:
        raise ApprovalRefused(f"the plan changed since request {request_id} was made; make the change again")
    if request.kind == "edit":
        return Decision(request)
    try:
        if request.kind == "override":
            return Decision(request, gates.override(database_url=database_url, admin=admin, key=key,
                                                    phase=request.phase_key, actor=request.requested_by,
                                                    reason=request.reason, approved_by=actor))
        outcome = phases.act(database_url=database_url, admin=admin, key=key, phase=request.phase_key,
                             action=Action(request.kind), actor=request.requested_by, reason=request.reason,
                             approved_by=actor)
    except PhaseActionRefused as exc:
        with session_scope(database_url, serial=True) as session:
            stored = session.get(ApprovalRow, request.id)
            stored.state = "stale"
            session.add(stored)
        raise ApprovalRefused(f"approved, but it cannot be done any more: {exc}") from None
    return Decision(request, outcome)


def reject(*, database_url: str, key: str, request_id: int, actor: str) -> Decision:
    """Reject a request (or, by its own lead, withdraw it): nothing of it is done."""
    with session_scope(database_url, serial=True) as session:
        row, _plan = live_plan(session, key)
        return Decision(approvals.decide(session, plan_id=row.id, request_id=request_id, actor=actor, approve=False))
