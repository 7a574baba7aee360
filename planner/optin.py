"""Opt-in membership: who may join (accepting the current guidelines), leave, the FIFO waitlist,
re-acceptance. Joins themselves are written by `optin_batch`, one or many at a time.

Every change bumps the cohort's `membership_version` first: that UPDATE serialises changes to one
cohort on SQLite and PostgreSQL alike (no two joins take the last seat), and tells the pusher that the
cohort's segment in Unleash is out of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, select

from planner import audit, webhooks
from planner.errors import CohortNotFound, OptInRefused
from planner.model import CohortKind, Plan
from planner.userids import problem
from planner.tables import CohortRow, MembershipRow, PlanRow, utcnow



@dataclass(frozen=True)
class Offer:
    """What an open opt-in cohort offers: features, each from its access start."""

    plan: Plan
    cohort_key: str
    features: list[tuple[str, datetime]]
    phases: list[str]


def open_offers(plan: Plan) -> list[Offer]:
    """Opt-in cohorts that a phase admits (or grants a preview to). Joining stays open while a phase is held
    or rolled back: members then wait for it, as Unleash's phase segment says."""
    from planner.access import access_starts

    starts = access_starts(plan)
    offers = []
    for cohort in plan.cohorts:
        if cohort.kind is not CohortKind.opt_in:
            continue
        phases = [p.key for p in plan.phases if
                  (cohort.key in p.cohorts or any(cohort.key in g.cohorts for g in p.grants))]
        if not phases:
            continue
        features = sorted(((f, r.starts) for (c, f), r in starts.items() if c == cohort.key), key=lambda x: x[1])
        offers.append(Offer(plan, cohort.key, features, phases))
    return offers


def _cohort(session: Session, plan_key: str, cohort_key: str) -> tuple[PlanRow, CohortRow]:
    found = session.exec(select(PlanRow, CohortRow).join(CohortRow, CohortRow.plan_id == PlanRow.id)
                         .where(PlanRow.key == plan_key, CohortRow.key == cohort_key, PlanRow.archived == False)  # noqa: E712
                         ).first()
    if found is None:
        raise CohortNotFound(plan_key, cohort_key)
    return found


def _lock(session: Session, cohort: CohortRow) -> None:
    session.exec(update(CohortRow).where(CohortRow.id == cohort.id)
                 .values(membership_version=CohortRow.membership_version + 1))


def _membership(session: Session, cohort_id: int, user: str) -> MembershipRow | None:
    return session.exec(select(MembershipRow).where(MembershipRow.cohort_id == cohort_id,
                                                    MembershipRow.user_id == user)).first()


def _member_count(session: Session, cohort_id: int) -> int:
    return session.exec(select(func.count()).select_from(MembershipRow)
                        .where(MembershipRow.cohort_id == cohort_id, MembershipRow.status == "member")).one()


def waiting_position(session: Session, membership: MembershipRow) -> int:
    return position_in_waitlist(session, membership.cohort_id, membership.requested_at, membership.id)


def position_in_waitlist(session: Session, cohort_id: int, requested_at: datetime, row_id: int) -> int:
    """1 for the first in line: FIFO by request time, then by row id."""
    return session.exec(select(func.count()).select_from(MembershipRow).where(
        MembershipRow.cohort_id == cohort_id, MembershipRow.status == "waiting",
        (MembershipRow.requested_at < requested_at)
        | ((MembershipRow.requested_at == requested_at) & (MembershipRow.id < row_id)))).one() + 1


def refusal(plan: Plan, cohort_key: str, accepted_version: int | None) -> OptInRefused | None:
    """Why `cohort_key` cannot be joined with these guidelines accepted; None when it can."""
    if cohort_key not in {o.cohort_key for o in open_offers(plan)}:
        return OptInRefused(f"'{cohort_key}' is not open for opt-in (no phase of the plan admits it)")
    if accepted_version != plan.guidelines.version:
        return OptInRefused(f"accept the current usage guidelines (version {plan.guidelines.version}) to join")
    return None


@dataclass(frozen=True)
class JoinResult:
    status: str  # member | waiting
    position: int | None = None  # place in the waitlist
    changed: bool = True


@dataclass(frozen=True)
class LeaveResult:
    left: bool
    promoted: str | None = None


def leave(*, session: Session, plan_key: str, cohort_key: str, user: str, actor: str | None = None) -> LeaveResult:
    """Leave a cohort (or its waitlist); the first user waiting takes the free seat."""
    plan_row, cohort = _cohort(session, plan_key, cohort_key)
    _lock(session, cohort)
    existing = _membership(session, cohort.id, user)
    if existing is None:
        return LeaveResult(False)
    was_member = existing.status == "member"
    session.delete(existing)
    session.flush()
    promoted = None
    if was_member and (cohort.capacity is None or _member_count(session, cohort.id) < cohort.capacity):
        first = session.exec(select(MembershipRow).where(MembershipRow.cohort_id == cohort.id,
                                                         MembershipRow.status == "waiting")
                             .order_by(MembershipRow.requested_at, MembershipRow.id).limit(1)).first()
        if first is not None:
            first.status, first.joined_at = "member", utcnow()
            session.add(first)
            promoted = first.user_id
    who = actor or user
    summary = (f"removed '{user}' from '{cohort_key}'" if who != user else f"left '{cohort_key}'")
    if promoted:
        summary += f"; '{promoted}' moved up from the waitlist"
    audit.record(session, action="optin.leave", actor=who, plan_id=plan_row.id, summary=summary)
    if promoted:  # the platform may tell them; their "My features" shows the cohort's features
        webhooks.enqueue(session, plan_id=plan_row.id, plan_key=plan_key, event="waitlist.moved_up",
                         data={"cohort": cohort_key, "user": promoted})
    return LeaveResult(True, promoted)


def accept_guidelines(*, session: Session, plan: Plan, user: str, version: int) -> int:
    """Record that `user` accepted guidelines `version` in every cohort of the plan; returns how many."""
    if version != plan.guidelines.version:
        raise OptInRefused(f"the current guidelines are version {plan.guidelines.version}")
    rows = session.exec(select(MembershipRow, CohortRow).join(CohortRow, MembershipRow.cohort_id == CohortRow.id)
                        .join(PlanRow, CohortRow.plan_id == PlanRow.id)
                        .where(PlanRow.key == plan.key, MembershipRow.user_id == user)).all()
    for membership, cohort in rows:
        if membership.guidelines_version != version:
            _lock(session, cohort)  # access may resume: the segment changes
            membership.guidelines_version, membership.accepted_at = version, utcnow()
            session.add(membership)
    return len(rows)


def memberships(session: Session, *, user: str) -> list[tuple[str, str, MembershipRow]]:
    """(plan key, cohort key, membership) of one user, in every plan."""
    rows = session.exec(select(PlanRow.key, CohortRow.key, MembershipRow)
                        .join(CohortRow, MembershipRow.cohort_id == CohortRow.id)
                        .join(PlanRow, CohortRow.plan_id == PlanRow.id)
                        .where(MembershipRow.user_id == user, PlanRow.archived == False)).all()  # noqa: E712
    return [(p, c, m) for p, c, m in rows]


def roster(session: Session, *, plan_key: str, cohort_key: str) -> tuple[list[MembershipRow], list[MembershipRow]]:
    """Members (in join order) and the waitlist (in FIFO order) of one cohort."""
    _plan, cohort = _cohort(session, plan_key, cohort_key)
    rows = list(session.exec(select(MembershipRow).where(MembershipRow.cohort_id == cohort.id)
                             .order_by(MembershipRow.requested_at, MembershipRow.id)))
    return [r for r in rows if r.status == "member"], [r for r in rows if r.status == "waiting"]


def effective_members(session: Session, plan: Plan) -> tuple[dict[str, list[str]], dict[int, int]]:
    """Who each opt-in cohort admits in Unleash (members in join order; when the plan pauses access until
    new guidelines are accepted, without those who have not), and the cohort versions this reflects."""
    rows = session.exec(select(CohortRow.key, CohortRow.id, CohortRow.membership_version, MembershipRow.user_id,
                               MembershipRow.status, MembershipRow.guidelines_version)
                        .join(PlanRow, CohortRow.plan_id == PlanRow.id)
                        .join(MembershipRow, MembershipRow.cohort_id == CohortRow.id, isouter=True)
                        .where(PlanRow.key == plan.key, CohortRow.kind == CohortKind.opt_in.value)
                        .order_by(CohortRow.id, MembershipRow.joined_at, MembershipRow.id)).all()
    members: dict[str, list[str]] = {}
    versions: dict[int, int] = {}
    current = plan.guidelines.version
    for key, cohort_id, version, user_id, status, accepted in rows:  # plain columns: the pusher reads this every second
        versions[cohort_id] = version
        members.setdefault(key, [])
        if status != "member":
            continue
        if plan.guidelines.pause_until_accepted and accepted != current:
            continue
        if problem(user_id):  # stored before ids were checked at the door: Unleash would refuse the segment
            continue
        members[key].append(user_id)
    return members, versions


def mark_pushed(session: Session, versions: dict[int, int]) -> None:
    """Unleash now holds these cohort versions (never moves backwards when two pushers race)."""
    for cohort_id, version in versions.items():
        session.exec(update(CohortRow).where(CohortRow.id == cohort_id, CohortRow.pushed_version < version)
                     .values(pushed_version=version))


def guidelines_changed(session: Session, plan_key: str) -> None:
    """New guidelines (or a new pause rule) may change who each opt-in cohort admits: have them pushed."""
    plan_id = session.exec(select(PlanRow.id).where(PlanRow.key == plan_key)).one()
    session.exec(update(CohortRow).where(CohortRow.plan_id == plan_id, CohortRow.kind == CohortKind.opt_in.value)
                 .values(membership_version=CohortRow.membership_version + 1))
