"""A phase's lifecycle: hold, resume, start now and roll back, from the plan page and the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from planner.errors import PhaseActionRefused
from planner.lifecycle import Action
from services import phases
from web.auth import Lead, verify_csrf
from web.deps import AdminDep, DatabaseDep
from web.openapi import ERRORS
from web.routes.plan_page import respond

api = APIRouter(prefix="/api/plans/{key}/phases", tags=["api"], responses=ERRORS)
pages = APIRouter(prefix="/plans/{key}/phases/{phase}/actions", dependencies=[Depends(verify_csrf)],
                  include_in_schema=False)


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


@pages.post("/{action}")
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
