"""JSON API for the pilot: join, leave, status, my features — for a signed-in user, or for the platform
acting on behalf of one (platform token, with `user`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from planner.membership import User
from planner.userids import check_user_id
from services import optin
from web.auth import Identity, Someone, verify_csrf
from web.deps import DatabaseDep, JoinQueueDep, ReaderDep
from web.openapi import ERRORS

router = APIRouter(prefix="/api/pilot", tags=["pilot API"], dependencies=[Depends(verify_csrf)], responses=ERRORS)


class JoinRequest(BaseModel):
    accept_guidelines_version: int = Field(description="the version of the usage guidelines the user accepted")
    user: str | None = Field(None, description="platform tokens only: the signed-in user the platform acts for")


class ActFor(BaseModel):
    user: str | None = Field(None, description="platform tokens only: the user the platform acts for")


class Membership(BaseModel):
    plan: str
    cohort: str
    status: str = Field(description="member | waiting | none")
    position: int | None = Field(None, description="place on the waitlist")


class Offer(BaseModel):
    plan: str
    cohort: str
    name: str
    features: list[tuple[str, datetime]]
    capacity: int | None
    seats_left: int | None
    guidelines_version: int
    status: str
    position: int | None
    needs_reacceptance: bool


class FeatureOut(BaseModel):
    plan: str
    feature: str
    flag: str
    since: datetime
    now: bool = Field(description="the plan gives it to the user now")
    unleash: bool | None = Field(description="what the real Unleash answers now (null: not evaluated)")
    reasons: list[str]


def acting_user(me: Identity, user: str | None) -> str:
    """Whom a request is for: yourself; only a platform token may name another user."""
    if user is None or user == me.user:
        if getattr(me, "platform", False):
            raise HTTPException(422, "user: a platform token must name the user it acts for")
        return me.user
    if not getattr(me, "platform", False):
        raise HTTPException(403, "you can only join, leave or look up for yourself")
    return check_user_id(user)


@router.get("/offers", response_model=list[Offer])
def offers(me: Someone, database_url: DatabaseDep, user: str | None = None):
    """Open opt-in cohorts, what they offer, and this user's place in them."""
    who = acting_user(me, user)
    return [Offer(plan=o.offer.plan.key, cohort=o.offer.cohort_key, name=o.name, features=o.offer.features,
                  capacity=o.capacity, seats_left=o.seats_left, guidelines_version=o.offer.plan.guidelines.version,
                  status=o.my_status or "none", position=o.my_position, needs_reacceptance=o.needs_reacceptance)
            for o in optin.pilot_offers(database_url=database_url, user=who)]


@router.post("/{plan}/{cohort}/join", response_model=Membership)
async def api_join(plan: str, cohort: str, body: JoinRequest, me: Someone, writer: JoinQueueDep):
    """Join an open opt-in cohort (or its waitlist when full), accepting the current guidelines."""
    who = acting_user(me, body.user)
    result = await optin.join_cohort(writer=writer, plan_key=plan, cohort=cohort, user=who,
                                     accepted_version=body.accept_guidelines_version)
    return Membership(plan=plan, cohort=cohort, status=result.status, position=result.position)


@router.post("/{plan}/{cohort}/leave", response_model=Membership)
def api_leave(plan: str, cohort: str, body: ActFor, me: Someone, database_url: DatabaseDep):
    """Leave a cohort or its waitlist; the first user waiting moves up."""
    who = acting_user(me, body.user)
    optin.leave_cohort(database_url=database_url, plan_key=plan, cohort=cohort, user=who)
    return Membership(plan=plan, cohort=cohort, status="none")


@router.get("/features", response_model=list[FeatureOut])
def api_features(me: Someone, database_url: DatabaseDep, reader: ReaderDep, user: str | None = None):
    """This user's features now and coming, with the plan's reasons and the real Unleash's answer."""
    who = acting_user(me, user)
    properties = dict(me.properties) if who == me.user else {}
    lines = optin.my_features(database_url=database_url, user=User(who, properties), reader=reader)
    return [FeatureOut(plan=line.plan, feature=line.feature, flag=line.flag, since=line.since, now=line.planned_now,
                       unleash=line.unleash, reasons=line.reasons) for line in lines]
