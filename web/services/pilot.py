"""The pilot page's data and actions, shared by the HTML pages and the JSON API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import func
from sqlmodel import select

from planner.db import session_scope
from planner.membership import User
from planner.optin import (JoinResult, LeaveResult, Offer, effective_members, leave, memberships, open_offers,
                           waiting_position)
from planner.optin_batch import JoinRequest, NoSuchPlan  # noqa: F401 - NoSuchPlan: the routes catch it from here
from planner.plans import list_plans
from planner.store import read_plan_cached
from planner.tables import CohortRow, MembershipRow
from web.services.features import FeatureLine, user_features
from web.services.join_queue import JoinQueue


async def join_cohort(request: Request, *, plan_key: str, cohort: str, user: str,
                      accepted_version: int | None) -> JoinResult:
    """Join (or join the waitlist); raises NoSuchPlan or OptInRefused. Every join, from the page or the API,
    goes through the process's opt-in writer (see join_queue)."""
    writer: JoinQueue = request.app.state.join_queue
    return await writer.join(JoinRequest(plan_key, cohort, user, accepted_version))


def leave_cohort(database_url: str, *, plan_key: str, cohort: str, user: str, actor: str | None = None) -> LeaveResult:
    with session_scope(database_url, serial=True) as session:
        return leave(session=session, plan_key=plan_key, cohort_key=cohort, user=user, actor=actor)


@dataclass
class OfferView:
    offer: Offer
    name: str
    description: str
    capacity: int | None
    members: int
    waiting: int
    my_status: str | None  # member | waiting | None
    my_position: int | None
    my_version: int | None  # guidelines version I accepted

    @property
    def seats_left(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.members)

    @property
    def needs_reacceptance(self) -> bool:
        return self.my_status is not None and self.my_version != self.offer.plan.guidelines.version


def pilot_offers(database_url: str, user: str) -> list[OfferView]:
    views = []
    with session_scope(database_url) as session:
        mine = {(p, c): m for p, c, m in memberships(session, user=user)}
        for row in list_plans(session=session):
            plan = read_plan_cached(session, row)
            for offer in open_offers(plan):
                cohort = session.exec(select(CohortRow).where(CohortRow.plan_id == row.id,
                                                              CohortRow.key == offer.cohort_key)).one()
                counts = dict(session.exec(select(MembershipRow.status, func.count()).where(
                    MembershipRow.cohort_id == cohort.id).group_by(MembershipRow.status)).all())
                membership = mine.get((plan.key, offer.cohort_key))
                views.append(OfferView(
                    offer, cohort.name or cohort.key, cohort.description, cohort.capacity,
                    counts.get("member", 0), counts.get("waiting", 0),
                    membership.status if membership else None,
                    waiting_position(session, membership) if membership and membership.status == "waiting" else None,
                    membership.guidelines_version if membership else None))
    return views


def my_features(database_url: str, user: User, reader=None) -> list[FeatureLine]:
    """The user's features in every plan, now and coming, each checked against the real Unleash when a
    reader for the plan's environment is running."""
    now = datetime.now(UTC)
    lines: list[FeatureLine] = []
    with session_scope(database_url) as session:
        plans = [read_plan_cached(session, row) for row in list_plans(session=session)]
        member_lists = {plan.key: effective_members(session, plan)[0] for plan in plans}
    context = {"userId": user.id, "properties": dict(user.properties)}
    for plan in plans:
        for line in user_features(plan, user, now=now, members=member_lists[plan.key]):
            if reader is not None and reader.environment == plan.unleash.environment:
                line.unleash = reader.enabled(line.flag, context)
            lines.append(line)
    return lines
