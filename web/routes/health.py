"""Health: whether the database is migrated and Unleash answers (never showing a token)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request

from planner import migrate

router = APIRouter(tags=["health"])


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
    # the counters below are this process's (`planner serve --workers N` runs N of them)
    pusher = getattr(request.app.state, "pusher", None)
    if pusher is not None:
        result["opt_in_push"] = {"plans_pushed": pusher.report.plans, "segment_writes": pusher.report.segment_writes,
                                 "other_writes": pusher.report.other_writes, "admin_writes": pusher.admin.writes}
    joins = request.app.state.join_queue
    result["opt_in_writes"] = {"joins": joins.joins, "batches": joins.batches, "retried_one_by_one": joins.retried}
    on_demand = getattr(request.app.state, "reader", None)
    if on_demand is not None:
        running = on_demand.running()
        result["flag_reader"] = running.health().as_dict() if running else "idle (starts when 'My features' is opened)"
    return result
