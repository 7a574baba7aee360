"""JSON API: plans, previews and sync history, for leads' scripts and the platform."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from planner.inputs import parse_instant, parse_properties
from planner.planfile import plan_document
from services import bootstrap, plans, sync
from services.preview import preview
from web.auth import Lead, verify_csrf
from web.deps import AdminDep, DatabaseDep, LeaseDep, SettingsDep
from web.openapi import ERRORS

router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)


@router.get("/plans")
def api_plans(_lead: Lead, database_url: DatabaseDep) -> list[dict[str, Any]]:
    return [{"plan": s.row.key, "title": s.row.title, "version": s.row.version, "project": s.row.project,
             "environment": s.row.environment, "updated_at": s.row.updated_at}
            for s in plans.list_plans(database_url=database_url)]


@router.get("/plans/{key}")
def api_plan(key: str, _lead: Lead, database_url: DatabaseDep) -> dict[str, Any]:
    """The plan in the plan file's shape."""
    return plan_document(plans.get_plan(database_url=database_url, key=key))


@router.get("/plans/{key}/preview")
def api_preview(key: str, _lead: Lead, database_url: DatabaseDep,
                at: Annotated[str, Query(description="instant with timezone, e.g. 2027-02-03T10:00:00+01:00")],
                user: str | None = None,
                prop: Annotated[list[str], Query(description="user property name=value")] = []) -> dict[str, Any]:  # noqa: B006
    """Who sees which feature at `at`; with `user`, which features that user gets and why."""
    instant: datetime = parse_instant(at)
    result = preview(database_url=database_url, key=key, at=instant, user=user, properties=parse_properties(prop))
    if user is None:
        return {"at": instant, "access": [{"cohort": c, "feature": f, "reason": r.describe()}
                                          for (c, f), r in sorted(result.grid.items())]}
    return {"at": instant, "user": user,
            "features": {f: [{"cohort": g.cohort, "reason": g.reason.describe()} for g in gs]
                         for f, gs in (result.user_result or {}).items()}}


def _job(r) -> dict[str, Any]:
    return {"id": r.id, "started_at": r.started_at, "finished_at": r.finished_at, "actor": r.actor,
            "dry_run": r.dry_run, "state": r.state, "progress": {"done": r.progress_done, "total": r.progress_total},
            "writes": r.writes, "counts": r.counts, "changes": r.changes, "error": r.error}


@router.get("/plans/{key}/syncs")
def api_syncs(key: str, _lead: Lead, database_url: DatabaseDep, timing: LeaseDep) -> list[dict[str, Any]]:
    """The plan's sync jobs, newest first, each with its state, progress, diff and outcome."""
    return [_job(r) for r in sync.sync_history(database_url=database_url, key=key, timing=timing).runs]


class SyncRequest(BaseModel):
    dry_run: bool = Field(False, description="compute what a sync would change, write nothing (recorded in the history)")


@router.post("/plans/{key}/syncs", status_code=202, dependencies=[Depends(verify_csrf)],
             responses={200: {"description": "a dry run, finished"}, 409: {"description": "another sync runs"}})
def api_start_sync(key: str, body: SyncRequest, response: Response, lead: Lead, database_url: DatabaseDep,
                   admin: AdminDep, timing: LeaseDep) -> dict[str, Any]:
    """Start a sync job (202; follow it at `Location`), or with `dry_run` answer what it would change (200)."""
    if body.dry_run:
        response.status_code = 200
        return sync.sync_plan(database_url=database_url, plan_key=key, admin=admin, actor=lead.user,
                              dry_run=True, timing=timing).as_json()
    job_id = sync.start_sync_job(database_url=database_url, plan_key=key, admin=admin, actor=lead.user, timing=timing)
    response.headers["Location"] = f"/api/plans/{key}/syncs/{job_id}"
    return _job(sync.sync_history(database_url=database_url, key=key, timing=timing, job_id=job_id).job)


@router.get("/plans/{key}/syncs/{job_id}")
def api_sync_job(key: str, job_id: int, _lead: Lead, database_url: DatabaseDep, timing: LeaseDep) -> dict[str, Any]:
    """One sync job: its state (queued, running, done, failed, abandoned), progress, diff and outcome."""
    return _job(sync.sync_history(database_url=database_url, key=key, timing=timing, job_id=job_id).job)


@router.get("/plans/{key}/bootstrap")
def api_bootstrap(key: str, _lead: Lead, settings: SettingsDep) -> dict[str, Any]:
    """The plan's flags and segments as Unleash serves them to SDKs now: a bootstrap file for the flag reader."""
    return bootstrap.bootstrap(settings=settings, key=key)
