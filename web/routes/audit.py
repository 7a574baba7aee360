"""The audit log: who changed what and when — plan edits, syncs, overrides — filterable by plan."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.audit import audit_log
from web.auth import Lead
from web.deps import DatabaseDep
from web.rendering import render

router = APIRouter(tags=["audit"], include_in_schema=False)  # pages, not the API


@router.get("/audit")
def audit_page(request: Request, _lead: Lead, database_url: DatabaseDep, plan: str = ""):
    log = audit_log(database_url=database_url, plan_key=plan)
    return render(request, "audit.html", {"entries": log.entries, "names": log.plan_names,
                                           "plans": sorted(log.plan_names.values()), "selected": plan},
                  block="entries")
