"""The FastAPI app: health, and read-only JSON for plans, previews and sync history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from sqlmodel import Session

from flags.settings import UnleashSettings
from planner import migrate
from planner.access import access
from planner.db import session_scope
from planner.membership import User
from planner.planfile import plan_document
from planner.plans import list_plans
from planner.preview import user_access
from planner.settings import PlannerSettings
from planner.store import load_plan
from planner.syncruns import runs
from planner.store import plan_row

app = FastAPI(title="Rollout planner", version="0.1.0",
              description="Plan a phased rollout and enforce it with Unleash feature flags.")


def get_session():
    with session_scope(PlannerSettings().database_url) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@app.get("/health")
def health() -> dict[str, Any]:
    """Whether the database is migrated and Unleash answers (the token is never shown)."""
    url = PlannerSettings().database_url
    try:
        revision = migrate.current(url)
    except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
        revision, db_error = None, type(exc).__name__
    else:
        db_error = None
    unleash_ok = False
    settings = UnleashSettings()
    if settings.admin_token.get_secret_value():
        with settings.admin() as admin:
            unleash_ok = admin.health()
    return {"status": "ok" if revision and unleash_ok else "degraded", "database_revision": revision,
            "database_error": db_error, "unleash": "up" if unleash_ok else "unreachable or not configured"}


@app.get("/api/plans")
def api_plans(session: SessionDep) -> list[dict[str, Any]]:
    return [{"plan": r.key, "title": r.title, "version": r.version, "project": r.project,
             "environment": r.environment, "updated_at": r.updated_at} for r in list_plans(session=session)]


def _plan(session: Session, key: str):
    plan = load_plan(session, key)
    if plan is None:
        raise HTTPException(404, f"no plan '{key}'")
    return plan


@app.get("/api/plans/{key}")
def api_plan(key: str, session: SessionDep) -> dict[str, Any]:
    """The plan in the plan file's shape."""
    return plan_document(_plan(session, key))


@app.get("/api/plans/{key}/preview")
def api_preview(key: str, session: SessionDep,
                at: Annotated[datetime, Query(description="instant with timezone, e.g. 2027-02-03T10:00:00+01:00")],
                user: str | None = None,
                prop: Annotated[list[str], Query(description="user property name=value")] = []) -> dict[str, Any]:  # noqa: B006
    if at.tzinfo is None:
        raise HTTPException(422, "at: needs a timezone, e.g. 2027-02-03T10:00:00+01:00")
    plan = _plan(session, key)
    if user is None:
        return {"at": at, "access": [{"cohort": c, "feature": f, "reason": r.describe()}
                                     for (c, f), r in sorted(access(plan, at=at).items())]}
    props = dict(p.partition("=")[::2] for p in prop)
    got = user_access(plan, User(user, props), at=at)
    return {"at": at, "user": user, "features": {f: [{"cohort": g.cohort, "reason": g.reason.describe()} for g in gs]
                                                 for f, gs in got.items()}}


@app.get("/api/plans/{key}/syncs")
def api_syncs(key: str, session: SessionDep) -> list[dict[str, Any]]:
    row = plan_row(session, key)
    if row is None:
        raise HTTPException(404, f"no plan '{key}'")
    return [{"id": r.id, "started_at": r.started_at, "finished_at": r.finished_at, "dry_run": r.dry_run,
             "outcome": r.outcome, "writes": r.writes, "counts": r.counts, "changes": r.changes, "error": r.error}
            for r in runs(session, row.id)]
