"""The audit log: who changed what and when — plan edits, syncs, overrides — filterable by plan."""

from __future__ import annotations

from fastapi import APIRouter, Request

from planner.audit import entries
from planner.plans import list_plans
from planner.store import plan_row
from web.auth import Lead
from web.deps import db
from web.rendering import render

router = APIRouter(tags=["audit"])


@router.get("/audit")
def audit_page(request: Request, _lead: Lead, plan: str = ""):
    with db(request) as session:
        row = plan_row(session, plan) if plan else None
        rows = entries(session, plan_id=row.id if row else None, limit=200) if (row or not plan) else []
        names = {p.id: p.key for p in list_plans(session=session, include_archived=True)}
        plans = sorted(names.values())
    return render(request, "audit.html", {"entries": rows, "names": names, "plans": plans, "selected": plan},
                  block="entries")
