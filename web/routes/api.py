"""JSON API: plans, previews and sync history, for leads' scripts and the platform."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from planner.access import access
from planner.membership import User
from planner.planfile import plan_document
from planner.plans import list_plans
from planner.preview import user_access
from planner.store import plan_row
from planner.syncruns import runs
from web.auth import Lead
from web.deps import db, stored_plan

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/plans")
def api_plans(request: Request, _lead: Lead) -> list[dict[str, Any]]:
    with db(request) as session:
        return [{"plan": r.key, "title": r.title, "version": r.version, "project": r.project,
                 "environment": r.environment, "updated_at": r.updated_at} for r in list_plans(session=session)]


@router.get("/plans/{key}")
def api_plan(key: str, request: Request, _lead: Lead) -> dict[str, Any]:
    """The plan in the plan file's shape."""
    return plan_document(stored_plan(request, key))


@router.get("/plans/{key}/preview")
def api_preview(key: str, request: Request, _lead: Lead,
                at: Annotated[datetime, Query(description="instant with timezone, e.g. 2027-02-03T10:00:00+01:00")],
                user: str | None = None,
                prop: Annotated[list[str], Query(description="user property name=value")] = []) -> dict[str, Any]:  # noqa: B006
    """Who sees which feature at `at`; with `user`, which features that user gets and why."""
    if at.tzinfo is None:
        raise HTTPException(422, "at: needs a timezone, e.g. 2027-02-03T10:00:00+01:00")
    plan = stored_plan(request, key)
    if user is None:
        return {"at": at, "access": [{"cohort": c, "feature": f, "reason": r.describe()}
                                     for (c, f), r in sorted(access(plan, at=at).items())]}
    props = dict(p.partition("=")[::2] for p in prop)
    got = user_access(plan, User(user, props), at=at)
    return {"at": at, "user": user, "features": {f: [{"cohort": g.cohort, "reason": g.reason.describe()} for g in gs]
                                                 for f, gs in got.items()}}


@router.get("/plans/{key}/syncs")
def api_syncs(key: str, request: Request, _lead: Lead) -> list[dict[str, Any]]:
    """The plan's sync runs, newest first, each with its diff and outcome."""
    with db(request) as session:
        row = plan_row(session, key)
        if row is None:
            raise HTTPException(404, f"no plan '{key}'")
        return [{"id": r.id, "started_at": r.started_at, "finished_at": r.finished_at, "dry_run": r.dry_run,
                 "outcome": r.outcome, "writes": r.writes, "counts": r.counts, "changes": r.changes, "error": r.error}
                for r in runs(session, row.id)]


@router.get("/plans/{key}/bootstrap")
def api_bootstrap(key: str, request: Request, _lead: Lead) -> dict[str, Any]:
    """The plan's flags and segments as Unleash serves them to SDKs now: a bootstrap file for the flag reader."""
    from flags.bootstrap import bootstrap_for, fetch_client_payload
    from flags.settings import UnleashSettings

    plan = stored_plan(request, key)
    settings = UnleashSettings()
    if not settings.client_token.get_secret_value():
        raise HTTPException(503, "the planner has no UNLEASH_CLIENT_TOKEN to read the client API with")
    try:
        payload = fetch_client_payload(settings.url, settings.client_token.get_secret_value())
    except PermissionError as exc:
        raise HTTPException(502, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any transport failure is "Unleash unreachable" here
        raise HTTPException(502, f"Unleash did not answer ({type(exc).__name__})") from None
    return bootstrap_for(payload, {plan.flag_name(f.key) for f in plan.features})
