"""The pilot page (open opt-in cohorts, guidelines, join, leave, waitlist) and "My features"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from planner.membership import User
from planner.optin import OptInRefused, accept_guidelines
from web.auth import Someone, verify_csrf
from web.deps import database_url, db, stored_plan
from web.rendering import render
from web.services.pilot import NoSuchPlan, join_cohort, leave_cohort, my_features, pilot_offers

router = APIRouter(tags=["pilot"], dependencies=[Depends(verify_csrf)])


def _page(request: Request, user: str, *, status: int = 200, message: str | None = None, error: str | None = None):
    context = {"offers": pilot_offers(database_url(request), user), "message": message, "error": error}
    return render(request, "pilot.html", context, block="offers", status=status)


@router.get("/pilot")
def pilot_page(request: Request, me: Someone):
    return _page(request, me.user)


@router.post("/pilot/{plan}/{cohort}/join")
async def join_from_page(plan: str, cohort: str, request: Request, me: Someone,
                         accept: Annotated[int | None, Form()] = None):
    try:
        result = await join_cohort(request, plan_key=plan, cohort=cohort, user=me.user, accepted_version=accept)
    except NoSuchPlan as exc:
        raise HTTPException(404, str(exc)) from None
    except OptInRefused as exc:
        return await run_in_threadpool(_page, request, me.user, status=422, error=str(exc))
    message = ("You are in. Your new features appear within seconds." if result.status == "member" else
               f"The pilot is full: you are number {result.position} on the waitlist.")
    return await run_in_threadpool(_page, request, me.user, message=message)


@router.post("/pilot/{plan}/{cohort}/leave")
def leave_from_page(plan: str, cohort: str, request: Request, me: Someone):
    try:
        result = leave_cohort(database_url(request), plan_key=plan, cohort=cohort, user=me.user)
    except OptInRefused as exc:
        return _page(request, me.user, status=422, error=str(exc))
    return _page(request, me.user, message="You left the pilot." if result.left else "You were not in it.")


@router.post("/pilot/{plan}/accept")
def accept(plan: str, request: Request, me: Someone, version: Annotated[int, Form()]):
    spec = stored_plan(request, plan)
    try:
        with db(request) as session:
            accept_guidelines(session=session, plan=spec, user=me.user, version=version)
    except OptInRefused as exc:
        return _page(request, me.user, status=422, error=str(exc))
    return _page(request, me.user, message=f"Thank you: guidelines version {version} accepted.")


@router.get("/me/features")
def my_features_page(request: Request, me: Someone):
    user = User(me.user, dict(me.properties))
    lines = my_features(database_url(request), user, getattr(request.app.state, "reader", None))
    reader = getattr(request.app.state, "reader", None)
    return render(request, "my_features.html", {"lines": lines, "reader": reader,
                                                 "health": reader.health() if reader else None}, block="features")
