"""Leads: members and waitlist of an opt-in cohort, removing a member, the members as CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from planner.optin import OptInRefused, roster
from web.services.pilot import leave_cohort
from planner.store import load_plan
from web.auth import Lead, verify_csrf
from web.deps import database_url, db
from web.rendering import render

router = APIRouter(prefix="/plans/{key}/cohorts/{cohort}", tags=["roster"], dependencies=[Depends(verify_csrf)])


def _roster(request: Request, key: str, cohort: str):
    with db(request) as session:
        plan = load_plan(session, key)
        try:
            members, waiting = roster(session, plan_key=key, cohort_key=cohort)
        except OptInRefused as exc:
            raise HTTPException(404, str(exc)) from None
    return plan, members, waiting


@router.get("/members")
def members_page(key: str, cohort: str, request: Request, _lead: Lead, message: str | None = None):
    plan, members, waiting = _roster(request, key, cohort)
    return render(request, "roster.html", {"plan": plan, "cohort": plan.cohort(cohort), "members": members,
                                           "waiting": waiting, "message": message}, block="roster")


@router.post("/members/remove")
def remove_member(key: str, cohort: str, request: Request, lead: Lead, user: Annotated[str, Form()]):
    result = leave_cohort(database_url(request), plan_key=key, cohort=cohort, user=user, actor=lead.user)
    message = (f"Removed {user}." + (f" {result.promoted} moved up from the waitlist." if result.promoted else "")
               if result.left else f"{user} was not in the cohort.")
    return members_page(key, cohort, request, lead, message=message)


@router.get("/members.csv")
def members_csv(key: str, cohort: str, request: Request, _lead: Lead):
    _plan, members, waiting = _roster(request, key, cohort)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["user_id", "status", "requested_at", "joined_at", "guidelines_version", "accepted_at"])
    for row in members + waiting:
        writer.writerow([row.user_id, row.status, row.requested_at.isoformat(),
                         row.joined_at.isoformat() if row.joined_at else "", row.guidelines_version,
                         row.accepted_at.isoformat()])
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{key}-{cohort}-members.csv"'})
