"""Health: liveness (/healthz), readiness (/readyz), metrics for Prometheus (/metrics) and the leads' /health,
whether the database is migrated and Unleash answers (never showing a token)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from planner import migrate
from services import readiness as readiness_checks
from services import telemetry

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]  # database, migrations, unleash: "ok" or why not


@router.get("/healthz")
async def healthz() -> Liveness:
    """The process answers (no database, no Unleash): for a liveness probe."""
    return Liveness(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    """200 when the database is reachable and migrated to head and Unleash takes the admin token; 503 with the
    reason per check otherwise. Unleash is asked at most every 2 s."""
    state = request.app.state
    result = readiness_checks.readiness(database_url=state.settings.database_url, unleash=state.unleash_check)
    return JSONResponse(Readiness(ready=result.ready, checks=result.checks).model_dump(),
                        status_code=200 if result.ready else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    """Prometheus metrics, summed over all workers of `planner serve`; counts only, no user id or token."""
    return Response(telemetry.scrape(database_url=request.app.state.settings.database_url),
                    media_type=CONTENT_TYPE_LATEST)


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    try:
        revision, db_error = migrate.current(request.app.state.settings.database_url), None
    except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
        revision, db_error = None, type(exc).__name__
    admin = request.app.state.admin
    unleash_ok = admin is not None and admin.health()
    result = {"status": "ok" if revision and unleash_ok else "degraded", "process": os.getpid(),
              "database_revision": revision,
              "database_error": db_error, "unleash": "up" if unleash_ok else "unreachable or not configured"}
    # the counters below are of all workers of `planner serve --workers N` (this process's alone with one)
    counted = telemetry.totals()
    result["counters_of"] = "all workers" if telemetry.multiprocess() else "this process"
    if getattr(request.app.state, "pusher", None) is not None:
        result["opt_in_push"] = {"plans_pushed": counted["planner_push_plans_total"],
                                 "segment_writes": counted["planner_push_segment_writes_total"],
                                 "other_writes": counted["planner_push_other_writes_total"],
                                 "admin_writes": counted["planner_unleash_admin_writes_total"]}
    result["opt_in_writes"] = {"joins": counted["planner_opt_ins_total"], "batches": counted["planner_opt_in_batches_total"],
                               "retried_one_by_one": counted["planner_opt_in_retried_total"]}
    on_demand = getattr(request.app.state, "reader", None)
    if on_demand is not None:
        running = on_demand.running()
        result["flag_reader"] = running.health().as_dict() if running else "idle (starts when 'My features' is opened)"
    return result
