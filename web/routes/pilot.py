"""The pilot page (open opt-in cohorts, guidelines, join, leave, waitlist) and "My features"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool

from planner.errors import CohortNotFound, OptInRefused
from planner.membership import User
from services import optin
from web.auth import Person, verify_csrf
from web.deps import DatabaseDep, JoinQueueDep, ReaderDep
from web.rendering import render

router = APIRouter(tags=["pilot"], dependencies=[Depends(verify_csrf)],
                   include_in_schema=False)  # pages, not the API


def _page(request: Request, database_url: str, user: str, *, status: int = 200, message: str | None = None,
          error: str | None = None):
    context = {"offers": optin.pilot_offers(database_url=database_url, user=user), "message": message, "error": error}
    return render(request, "pilot.html", context, block="offers", status=status)


@router.get("/pilot")
def pilot_page(request: Request, me: Person, database_url: DatabaseDep):
    return _page(request, database_url, me.user)


@router.post("/pilot/{plan}/{cohort}/join")
async def join_from_page(plan: str, cohort: str, request: Request, me: Person, database_url: DatabaseDep,
                         writer: JoinQueueDep, accept: Annotated[int | None, Form()] = None):
    try:
        result = await optin.join_cohort(writer=writer, plan_key=plan, cohort=cohort, user=me.user,
                                         accepted_version=accept)
    except (OptInRefused, CohortNotFound) as exc:
        return await run_in_threadpool(_page, request, database_url, me.user, status=422, error=str(exc))
    message = ("You are in. Your new features appear within seconds." if result.status == "member" else
               f"The pilot is full: you are number {result.position} on the waitlist.")
    return await run_in_threadpool(_page, request, database_url, me.user, message=message)


@router.post("/pilot/{plan}/{cohort}/leave")
def leave_from_page(plan: str, cohort: str, request: Request, me: Person, database_url: DatabaseDep):
    try:
        result = optin.leave_cohort(database_url=database_url, plan_key=plan, cohort=cohort, user=me.user)
    except CohortNotFound as exc:
        return _page(request, database_url, me.user, status=422, error=str(exc))
    return _page(request, database_url, me.user,
                 message="You left the pilot." if result.left else "You were not in it.")


@router.post("/pilot/{plan}/accept")
def accept(plan: str, request: Request, me: Person, database_url: DatabaseDep, version: Annotated[int, Form()]):
    try:
        optin.accept_guidelines(database_url=database_url, plan_key=plan, user=me.user, version=version)
    except OptInRefused as exc:
        return _page(request, database_url, me.user, status=422, error=str(exc))
    return _page(request, database_url, me.user, message=f"Thank you: guidelines version {version} accepted.")


@router.get("/me/features")
def my_features_page(request: Request, me: Person, database_url: DatabaseDep, reader: ReaderDep):
    lines = optin.my_features(database_url=database_url, user=User(me.user, dict(me.properties)), reader=reader)
    return render(request, "my_features.html", {"lines": lines, "reader": reader,
                                                 "moved_up": optin.moved_up(database_url=database_url, user=me.user),
                                                 "health": reader.health() if reader else None}, block="features")
