"""Four eyes: with a plan's `four_eyes` on, a change that widens access now waits for a second lead.

What waits: an edit (or a plan file applied) that gives some cohort a feature at this moment that it does not
have, or that turns four eyes off; a start now; a resume. What never waits: hold and roll back, and edits
that only narrow access or change what comes later (it is still written ahead, and can be held).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from planner import audit, webhooks
from planner.access import Pair, access
from planner.errors import NotFound, Refused
from planner.lifecycle import Controls
from planner.model import Plan
from planner.tables import ApprovalRow, PlanRow, utcnow


class ApprovalRefused(Refused):
    """An approval that cannot be given (one's own request, or not pending any more)."""


def widened(before: Plan, after: Plan, controls: Controls, *, at: datetime) -> set[Pair]:
    """The (cohort, feature) pairs `after` gives at `at` that `before` does not."""
    return set(access(after, at=at, controls=controls)) - set(access(before, at=at, controls=controls))


def edit_needs_approval(before: Plan, after: Plan, controls: Controls, *, at: datetime) -> bool:
    return before.four_eyes and (not after.four_eyes or bool(widened(before, after, controls, at=at)))


def request(session: Session, *, plan_row: PlanRow, kind: str, actor: str, summary: str, phase: str = "",
            reason: str = "", document: dict[str, Any] | None = None) -> ApprovalRow:
    """Record a request (with its audit entry and the `approval.requested` webhook event)."""
    row = ApprovalRow(plan_id=plan_row.id, kind=kind, phase_key=phase, summary=summary, reason=reason,
                      document=document, base_version=plan_row.version, requested_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, action="approval.requested", actor=actor, plan_id=plan_row.id,
                 summary=f"asked for a second lead's approval: {summary}", detail={"request": row.id, "kind": kind})
    webhooks.enqueue(session, plan_id=plan_row.id, plan_key=plan_row.key, event="approval.requested",
                     data={"request": row.id, "kind": kind, "phase": phase or None, "summary": summary, "by": actor})
    return row


def pending(session: Session, plan_id: int) -> list[ApprovalRow]:
    return list(session.exec(select(ApprovalRow).where(ApprovalRow.plan_id == plan_id, ApprovalRow.state == "pending")
                             .order_by(ApprovalRow.id)))


def recent(session: Session, plan_id: int, limit: int = 10) -> list[ApprovalRow]:
    return list(session.exec(select(ApprovalRow).where(ApprovalRow.plan_id == plan_id)
                             .order_by(ApprovalRow.id.desc()).limit(limit)))


def decide(session: Session, *, plan_id: int, request_id: int, actor: str, approve: bool) -> ApprovalRow:
    """Mark a pending request approved or rejected; the caller carries an approved one out in the same
    transaction. Approving one's own request is refused; anyone may reject (withdraw) one."""
    row = session.get(ApprovalRow, request_id)
    if row is None or row.plan_id != plan_id:
        raise NotFound(f"no approval request {request_id} in this plan")
    if row.state != "pending":
        raise ApprovalRefused(f"request {request_id} is {row.state} already")
    if approve and row.requested_by == actor:
        raise ApprovalRefused("a second lead must approve: you asked for this change yourself")
    row.state, row.decided_by, row.decided_at = ("approved" if approve else "rejected"), actor, utcnow()
    session.add(row)
    audit.record(session, action=f"approval.{row.state}", actor=actor, plan_id=plan_id,
                 summary=f"{row.state} the request of {row.requested_by}: {row.summary}", detail={"request": row.id})
    return row
