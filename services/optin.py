"""Opt-in: the pilots open to a user, joining (through the process's opt-in writer), leaving, accepting the
guidelines, the lead's roster, and what a user has now and what is coming."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import select

from planner.db import session_scope
from planner.membership import User
from planner.features import FeatureLine, user_features
from planner.optin import (JoinResult, LeaveResult, Offer, accept_guidelines as accept, effective_members, leave,
                           memberships, open_offers, roster as cohort_roster, waiting_position)
from planner.optin_batch import JoinRequest
from planner.phasecontrol import load_controls
from planner.plans import list_plans
from planner.store import live_plan, read_plan_cached
from planner.tables import CohortRow, MembershipRow
from services.join_queue import JoinQueue


async def join_cohort(*, writer: JoinQueue, plan_key: str, cohort: str, user: str,
                      accepted_version: int | None) -> JoinResult:
    """Join (or join the waitlist); raises PlanNotFound, CohortNotFound or OptInRefused. Every join, from the
    page or the API, goes through the process's opt-in writer (see join_queue)."""
    return await writer.join(JoinRequest(plan_key, cohort, user, accepted_version))


def accept_guidelines(*, database_url: str, plan_key: str, user: str, version: int) -> int:
    """Record that `user` accepted guidelines `version` in every cohort of the plan; OptInRefused for an old one."""
    with session_scope(database_url) as session:
        return accept(session=session, plan=live_plan(session, plan_key)[1], user=user, version=version)


@dataclass
class Roster:
    plan: object
    cohort: object
    members: list[MembershipRow]
    waiting: list[MembershipRow]


def roster(*, database_url: str, plan_key: str, cohort: str) -> Roster:
    """Members (in join order) and the waitlist (in FIFO order) of one cohort, for its lead."""
    with session_scope(database_url) as session:
        plan = live_plan(session, plan_key)[1]
        members, waiting = cohort_roster(session, plan_key=plan_key, cohort_key=cohort)
    return Roster(plan, plan.cohort(cohort), members, waiting)


# a spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def roster_csv(*, database_url: str, plan_key: str, cohort: str) -> str:
    """The members, then the waitlist, of one cohort as CSV, every cell safe to open in a spreadsheet."""
    found = roster(database_url=database_url, plan_key=plan_key, cohort=cohort)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["user_id", "status", "requested_at", "joined_at", "guidelines_version", "accepted_at"])
    for row in found.members + found.waiting:
        writer.writerow([csv_cell(v) for v in (row.user_id, row.status, row.requested_at.isoformat(),
                                               row.joined_at.isoformat() if row.joined_at else "",
                                               row.guidelines_version, row.accepted_at.isoformat())])
    return out.getvalue()


def leave_cohort(*, database_url: str, plan_key: str, cohort: str, user: str, actor: str | None = None) -> LeaveResult:
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


def pilot_offers(*, database_url: str, user: str) -> list[OfferView]:
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


WAITED = timedelta(seconds=2)  # a member whose seat came this much after asking waited for it on the waitlist


@dataclass(frozen=True)
class MovedUp:
    plan: str
    cohort: str
    at: datetime


def moved_up(*, database_url: str, user: str) -> list[MovedUp]:
    """The cohorts where the user got a seat from the waitlist (a member whose seat came well after asking;
    a join with room is a member at once), for "My features" to say so: the platform is told by webhook."""
    with session_scope(database_url) as session:
        return [MovedUp(plan, cohort, m.joined_at) for plan, cohort, m in memberships(session, user=user)
                if m.status == "member" and m.joined_at and m.requested_at and m.joined_at - m.requested_at > WAITED]


def my_features(*, database_url: str, user: User, reader=None) -> list[FeatureLine]:
    """The user's features in every plan, now and coming, each checked against the real Unleash when a
    reader for the plan's environment is running."""
    now = datetime.now(UTC)
    lines: list[FeatureLine] = []
    with session_scope(database_url) as session:
        rows = list_plans(session=session)
        plans = [read_plan_cached(session, row) for row in rows]
        member_lists = {plan.key: effective_members(session, plan)[0] for plan in plans}
        controls = {row.key: load_controls(session, row.id) for row in rows}
    context = {"userId": user.id, "properties": dict(user.properties)}
    for plan in plans:
        for line in user_features(plan, user, now=now, members=member_lists[plan.key], controls=controls[plan.key]):
            if reader is not None and reader.environment == plan.unleash.environment:
                line.unleash = reader.enabled(line.flag, context)
            lines.append(line)
    return lines
