"""A phase's lifecycle: hold, resume, start now and roll back, from the plan page and the JSON API; and, with
four eyes on, a second lead's approval of what widens access."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from enum import Enum

from planner.approvals import ApprovalRefused
from planner.errors import PhaseActionRefused
from planner.lifecycle import Action
from services import approvals, phases
from web.auth import Lead, verify_csrf
from web.deps import AdminDep, DatabaseDep
from web.openapi import ERRORS
from web.routes.plan_page import respond

api = APIRouter(prefix="/api/plans/{key}/phases", tags=["api"], responses=ERRORS)
pages = APIRouter(prefix="/plans/{key}", dependencies=[Depends(verify_csrf)], include_in_schema=False)
approvals_api = APIRouter(prefix="/api/plans/{key}/approvals", tags=["api"], responses=ERRORS)


class Decision(str, Enum):
    approve = "approve"
    reject = "reject"


class PhaseState(BaseModel):
    phase: str
    name: str
    status: str = Field(description="planned | scheduled | active | completed | held | rolled_back")
    starts: datetime = Field(description="the planned start, or when a lead started the phase early")
    opens: datetime | None = Field(description="from when its segment in Unleash is true; null while held or rolled back")
    held_by: str = Field("", description="who held or rolled it back")
    reason: str = ""
    cause: str = Field("", description="the phase whose hold or roll back this one follows")
    unleash: str | None = Field(None, description="what Unleash holds for the phase's segment")


class ActionRequest(BaseModel):
    reason: str = Field("", max_length=2000, description="why; required for hold, start and rollback")


def _state(view: phases.PhaseView) -> PhaseState:
    return PhaseState(phase=view.phase.key, name=view.name, status=view.status.value, starts=view.starts,
                      opens=view.opens, held_by=view.control.actor, reason=view.control.reason,
                      cause=view.control.cause, unleash=view.unleash)


@api.get("")
def api_phases(key: str, _lead: Lead, database_url: DatabaseDep, admin: AdminDep) -> list[PhaseState]:
    """Each phase's status and start, and what Unleash holds for it."""
    return [_state(v) for v in phases.phase_list(database_url=database_url, key=key, admin=admin)[1]]


@api.post("/{phase}/{action}", dependencies=[Depends(verify_csrf)])
def api_act(key: str, phase: str, action: Action, body: ActionRequest, lead: Lead, database_url: DatabaseDep,
            admin: AdminDep) -> dict[str, Any]:
    """Hold, resume, start (now) or roll back a phase: one segment write per phase whose window changes. When
    Unleash cannot be written the action still stands (`error` says so) and the controller writes it."""
    return phases.act(database_url=database_url, admin=admin, key=key, phase=phase, action=action,
                      actor=lead.user, reason=body.reason).as_json()


@pages.post("/phases/{phase}/actions/{action}")
async def act(key: str, phase: str, action: Action, request: Request, lead: Lead, database_url: DatabaseDep,
              admin: AdminDep):
    form = await request.form()
    try:
        outcome = phases.act(database_url=database_url, admin=admin, key=key, phase=phase, action=action,
                             actor=lead.user, reason=str(form.get("reason") or ""))
    except PhaseActionRefused as exc:
        return respond(request, database_url, key, "phases", status=422, acting=phase,
                       errors={f"action-{phase}": str(exc)}, form=dict(form))
    return respond(request, database_url, key, "phases", done=outcome)


@pages.post("/approvals/{request_id}/{decision}")
def decide(key: str, request_id: int, decision: Decision, request: Request, lead: Lead, database_url: DatabaseDep,
           admin: AdminDep):
    try:
        _decide(database_url, admin, key, request_id, decision, lead.user)
    except ApprovalRefused as exc:
        return respond(request, database_url, key, "approvals", status=422, errors={f"approval-{request_id}": str(exc)})
    return respond(request, database_url, key, "approvals", decided=(request_id, decision.value))


def _decide(database_url: str, admin, key: str, request_id: int, decision: Decision, actor: str):
    if decision is Decision.approve:
        return approvals.approve(database_url=database_url, admin=admin, key=key, request_id=request_id, actor=actor)
    return approvals.reject(database_url=database_url, key=key, request_id=request_id, actor=actor)


class ApprovalState(BaseModel):
    id: int
    kind: str = Field(description="edit | start | resume")
    phase: str
    summary: str
    requested_by: str
    requested_at: datetime
    state: str = Field(description="pending | approved | rejected | stale")
    decided_by: str


@approvals_api.get("")
def api_approvals(key: str, _lead: Lead, database_url: DatabaseDep) -> list[ApprovalState]:
    """The plan's latest approval requests (four eyes), newest first."""
    return [ApprovalState(id=r.id, kind=r.kind, phase=r.phase_key, summary=r.summary, requested_by=r.requested_by,
                          requested_at=r.requested_at, state=r.state, decided_by=r.decided_by)
            for r in approvals.listing(database_url=database_url, key=key)[1]]


@approvals_api.post("/{request_id}/{decision}", dependencies=[Depends(verify_csrf)])
def api_decide(key: str, request_id: int, decision: Decision, lead: Lead, database_url: DatabaseDep,
               admin: AdminDep) -> dict[str, Any]:
    """Approve (and carry out) or reject another lead's request; approving one's own is refused (422)."""
    done = _decide(database_url, admin, key, request_id, decision, lead.user)
    return {"request": done.request.id, "state": done.request.state,
            "outcome": done.outcome.as_json() if done.outcome else None}
