"""Leads: members and waitlist of an opt-in cohort, removing a member, the members as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from planner.userids import shown
from services import optin
from web.auth import Lead, verify_csrf
from web.deps import DatabaseDep
from web.rendering import render

router = APIRouter(prefix="/plans/{key}/cohorts/{cohort}", tags=["roster"], dependencies=[Depends(verify_csrf)],
                   include_in_schema=False)  # pages, not the API


@router.get("/members")
def members_page(key: str, cohort: str, request: Request, _lead: Lead, database_url: DatabaseDep,
                 message: str | None = None):
    found = optin.roster(database_url=database_url, plan_key=key, cohort=cohort)
    return render(request, "roster.html", {"plan": found.plan, "cohort": found.cohort, "members": found.members,
                                           "waiting": found.waiting, "message": message}, block="roster")


@router.post("/members/remove")
def remove_member(key: str, cohort: str, request: Request, lead: Lead, database_url: DatabaseDep,
                  user: Annotated[str, Form()] = ""):
    result = optin.leave_cohort(database_url=database_url, plan_key=key, cohort=cohort, user=user, actor=lead.user)
    who = shown(user) or "the member with an empty id"
    message = (f"Removed {who}." + (f" {shown(result.promoted)} moved up from the waitlist." if result.promoted else "")
               if result.left else f"{who} was not in the cohort.")
    return members_page(key, cohort, request, lead, database_url, message=message)


@router.get("/members.csv")
def members_csv(key: str, cohort: str, _lead: Lead, database_url: DatabaseDep):
    text = optin.roster_csv(database_url=database_url, plan_key=key, cohort=cohort)
    return Response(text, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{key}-{cohort}-members.csv"'})
