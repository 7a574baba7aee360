"""One leader among all processes (and all workers of each), elected through the database: a named lease
taken and renewed in one compare-and-set UPDATE, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from planner.tables import LeaderLeaseRow, utcnow


def lead(session: Session, name: str, owner: str, *, hold: timedelta, now: datetime | None = None) -> bool:
    """Take or renew lease `name` for `owner` until `now + hold`: True while `owner` leads. A lease whose holder
    stopped renewing it (a killed process) is taken over once it has run out."""
    now = now or utcnow()
    taken = session.exec(update(LeaderLeaseRow).where(LeaderLeaseRow.name == name)
                         .where(or_(LeaderLeaseRow.owner == owner, LeaderLeaseRow.until.is_(None),
                                    LeaderLeaseRow.until < now))
                         .values(owner=owner, until=now + hold)).rowcount
    if taken:
        return True
    if session.exec(select(LeaderLeaseRow.name).where(LeaderLeaseRow.name == name)).first() is not None:
        return False
    nested = session.begin_nested()
    try:
        session.add(LeaderLeaseRow(name=name, owner=owner, until=now + hold))
        session.flush()
        nested.commit()
    except IntegrityError:  # another process made the row first: it leads
        nested.rollback()
        return False
    return True


def step_down(session: Session, name: str, owner: str) -> None:
    """Give the lease up (a clean stop), so that another process takes over at once."""
    session.exec(update(LeaderLeaseRow).where(LeaderLeaseRow.name == name, LeaderLeaseRow.owner == owner)
                 .values(until=None))


def leader(session: Session, name: str, *, now: datetime | None = None) -> str | None:
    """Who holds lease `name` now, if anyone."""
    now = now or utcnow()
    row = session.get(LeaderLeaseRow, name)
    if row is None or row.until is None:
        return None
    until = row.until if row.until.tzinfo else row.until.replace(tzinfo=now.tzinfo)
    return row.owner if until >= now else None
