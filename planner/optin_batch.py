"""Joining opt-in cohorts: many joins in one transaction (group commit), in a few statements a batch.

A join written on its own cost about eight statements and a commit. Under load that is mostly fixed cost, and
with SQLite one writer at a time, so the web server queues joins and hands them over here in arrival
order. Per cohort in the batch: one lock (the `membership_version` bump), one read of the users already
in it, one count; then one multi-row insert of memberships and one of audit entries.

Each request gets its own answer: a JoinResult, or the OptInRefused / PlanNotFound that says why not, which
changes nothing of the others. A single join (`join`) is a batch of one: the rules live in one place.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from planner.errors import OptInRefused, PlanNotFound
from planner.model import Plan
from planner.optin import JoinResult, position_in_waitlist, refusal
from planner.store import read_plan_cached
from planner.userids import problem
from planner.tables import AuditRow, CohortRow, MembershipRow, PlanRow, utcnow


@dataclass(frozen=True)
class JoinRequest:
    plan_key: str
    cohort_key: str
    user: str
    accepted_version: int | None


Outcome = JoinResult | OptInRefused | PlanNotFound


@dataclass
class _Existing:
    id: int
    status: str
    guidelines_version: int
    requested_at: datetime
    position: int | None = None  # in the waitlist, when it joined it in this batch


def join_batch(session: Session, requests: list[JoinRequest]) -> list[Outcome]:
    """Apply `requests` in order, each answered as if it came alone. The caller commits (or rolls back all)."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    plans = _plans(session, {r.plan_key for r in requests})
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    refusals: dict[tuple[str, str, int | None], str | None] = {}  # the same question, once a batch
    for i, request in enumerate(requests):
        found = plans.get(request.plan_key)
        if found is None:
            outcomes[i] = PlanNotFound(request.plan_key)
            continue
        wrong = problem(request.user)
        if wrong:  # Unleash would refuse the cohort's whole segment for it
            outcomes[i] = OptInRefused(f"your user id {wrong}, so it cannot be given features; ask IT to fix it")
            continue
        asked = (request.plan_key, request.cohort_key, request.accepted_version)
        if asked not in refusals:
            refused = refusal(found[1], request.cohort_key, request.accepted_version)
            refusals[asked] = None if refused is None else str(refused)
        if refusals[asked] is not None:
            outcomes[i] = OptInRefused(refusals[asked])
            continue
        groups[(request.plan_key, request.cohort_key)].append(i)

    memberships: list[dict] = []
    audits: list[dict] = []
    db = session.connection()  # Core statements, built once below: this runs for every opt-in
    for (plan_key, cohort_key), indexes in groups.items():
        plan_id, plan = plans[plan_key]
        cohort_id, capacity = db.execute(_COHORT, {"plan_id": plan_id, "key": cohort_key}).one()
        db.execute(_LOCK, {"cohort_id": cohort_id})  # serialises changes to the cohort, and tells the pusher
        existing = {user: _Existing(*rest) for user, *rest in
                    db.execute(_EXISTING, {"cohort_id": cohort_id, "users": sorted({requests[i].user for i in indexes})})}
        counts = dict(db.execute(_COUNTS, {"cohort_id": cohort_id}).all())
        members, waiting = counts.get("member", 0), counts.get("waiting", 0)
        renewed: list[dict] = []
        now = utcnow()
        for i in indexes:
            request = requests[i]
            known = existing.get(request.user)
            if known is not None:  # joining twice changes nothing but the guidelines accepted
                if known.guidelines_version != request.accepted_version:
                    known.guidelines_version = request.accepted_version
                    renewed.append({"row_id": known.id, "version": request.accepted_version, "at": now})
                position = known.position
                if known.status == "waiting" and position is None:
                    position = position_in_waitlist(session, cohort_id, known.requested_at, known.id)
                outcomes[i] = JoinResult(known.status, position, changed=False)
                continue
            full = capacity is not None and members >= capacity
            if full:
                waiting += 1
            else:
                members += 1
            status = "waiting" if full else "member"
            memberships.append({"cohort_id": cohort_id, "user_id": request.user, "status": status,
                                "requested_at": now, "joined_at": None if full else now,
                                "guidelines_version": request.accepted_version, "accepted_at": now})
            audits.append({"plan_id": plan_id, "at": now, "actor": request.user, "action": "optin.join",
                           "summary": f"{'joined the waitlist of' if full else 'joined'} '{cohort_key}'",
                           "detail": {}})
            # the newly waiting queue behind everyone already waiting, in this batch's order
            position = waiting if full else None
            existing[request.user] = _Existing(-1, status, request.accepted_version, now, position)
            outcomes[i] = JoinResult(status, position)
        if renewed:
            db.execute(_RENEW, renewed)
    if memberships:
        # one statement for the lot; a concurrent insert of the same user (another process) raises
        # IntegrityError here and the caller retries the batch one by one
        db.execute(_INSERT_MEMBERSHIPS, memberships)
        db.execute(_INSERT_AUDITS, audits)
    return outcomes  # type: ignore[return-value]  # every slot is filled above


def join(*, session: Session, plan_key: str, cohort_key: str, user: str, accepted_version: int | None) -> JoinResult:
    """Join an open opt-in cohort, or its waitlist when it is full; joining twice changes nothing.
    Raises PlanNotFound or OptInRefused. The caller commits."""
    try:
        outcome = join_batch(session, [JoinRequest(plan_key, cohort_key, user, accepted_version)])[0]
    except IntegrityError:  # the same user at the same moment, from another process: that request won
        raise OptInRefused("you joined already (a second request arrived at the same time)") from None
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _plans(session: Session, keys: set[str]) -> dict[str, tuple[int, Plan]]:
    rows = session.exec(select(PlanRow).where(PlanRow.key.in_(keys), PlanRow.archived == False)).all()  # noqa: E712
    return {row.key: (row.id, read_plan_cached(session, row)) for row in rows}


_cohorts, _members = CohortRow.__table__.c, MembershipRow.__table__.c
_COHORT = sa_select(_cohorts.id, _cohorts.capacity).where(_cohorts.plan_id == bindparam("plan_id"),
                                                          _cohorts.key == bindparam("key"))
_LOCK = (update(CohortRow.__table__).where(_cohorts.id == bindparam("cohort_id"))
         .values(membership_version=_cohorts.membership_version + 1))
_EXISTING = sa_select(_members.user_id, _members.id, _members.status, _members.guidelines_version,
                      _members.requested_at).where(_members.cohort_id == bindparam("cohort_id"),
                                                   _members.user_id.in_(bindparam("users", expanding=True)))
_COUNTS = (sa_select(_members.status, func.count()).where(_members.cohort_id == bindparam("cohort_id"))
           .group_by(_members.status))
_RENEW = (update(MembershipRow.__table__).where(_members.id == bindparam("row_id"))
          .values(guidelines_version=bindparam("version"), accepted_at=bindparam("at")))
_INSERT_MEMBERSHIPS = insert(MembershipRow.__table__)
_INSERT_AUDITS = insert(AuditRow.__table__)
