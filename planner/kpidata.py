"""A plan's KPI data in the database: the platform's events, the values leads enter, the served counts copied
from Unleash, and what they sum up to over a window (planner.kpis.Observation) or day by day (charts)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from planner.kpis import Observation, Window
from planner.model import Aggregation, CohortKind, Kpi, KpiSource, Plan
from planner.tables import CohortRow, CohortUserRow, KpiEventRow, KpiValueRow, MembershipRow, ServedHourRow, utcnow


def _insert(session: Session, table):
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


def store_events(session: Session, plan_id: int, events: list[dict[str, Any]]) -> tuple[int, int]:
    """Store checked events (kpi_key, user_id, value, at, idempotency_key), each idempotency key once per plan:
    returns (stored, already there). Two posts of one batch at once store it once (ON CONFLICT DO NOTHING)."""
    if not events:
        return 0, 0
    keys = [e["idempotency_key"] for e in events]
    known = set(session.exec(select(KpiEventRow.idempotency_key).where(
        KpiEventRow.plan_id == plan_id, KpiEventRow.idempotency_key.in_(keys))))
    fresh: dict[str, dict[str, Any]] = {}
    for event in events:  # within one batch too, the first of a key counts
        if event["idempotency_key"] not in known:
            fresh.setdefault(event["idempotency_key"], event)
    if fresh:
        now = utcnow()
        rows = [{**e, "plan_id": plan_id, "received_at": now} for e in fresh.values()]
        session.execute(_insert(session, KpiEventRow).values(rows)
                        .on_conflict_do_nothing(index_elements=["plan_id", "idempotency_key"]))
    return len(fresh), len(events) - len(fresh)


def record_value(session: Session, plan_id: int, kpi_key: str, *, value: float, at: datetime, note: str,
                 actor: str, sample: int | None = None) -> KpiValueRow:
    row = KpiValueRow(plan_id=plan_id, kpi_key=kpi_key, value=value, at=at, sample=sample, note=note, actor=actor)
    session.add(row)
    session.flush()
    return row


def entered_values(session: Session, plan_id: int, kpi_key: str, limit: int = 20) -> list[KpiValueRow]:
    return list(session.exec(select(KpiValueRow).where(KpiValueRow.plan_id == plan_id, KpiValueRow.kpi_key == kpi_key)
                             .order_by(KpiValueRow.at.desc(), KpiValueRow.id.desc()).limit(limit)))


def store_served(session: Session, hours) -> int:
    """Copy Unleash's hourly served counts (flags.metrics.ServedHour); an hour copied again takes the newer
    counts (Unleash adds to the current hour until it ends). Returns how many rows changed."""
    changed = 0
    for hour in hours:
        row = session.exec(select(ServedHourRow).where(
            ServedHourRow.flag == hour.flag, ServedHourRow.environment == hour.environment,
            ServedHourRow.app == hour.app, ServedHourRow.hour == hour.hour)).first()
        if row is None:
            row = ServedHourRow(flag=hour.flag, environment=hour.environment, app=hour.app, hour=hour.hour)
        elif (row.yes, row.no) == (hour.yes, hour.no):
            continue
        row.yes, row.no, row.updated_at = hour.yes, hour.no, utcnow()
        session.add(row)
        changed += 1
    session.flush()
    return changed


def _members(session: Session, plan_id: int, plan: Plan, cohort_key: str):
    """A select of the cohort's member ids (opt-in: members, not those waiting; list: its users)."""
    cohort = plan.cohort(cohort_key)
    cohort_id = select(CohortRow.id).where(CohortRow.plan_id == plan_id, CohortRow.key == cohort_key).scalar_subquery()
    if cohort.kind is CohortKind.opt_in:
        return select(MembershipRow.user_id).where(MembershipRow.cohort_id == cohort_id, MembershipRow.status == "member")
    return select(CohortUserRow.user_id).where(CohortUserRow.cohort_id == cohort_id)


def _in_window(column, win: Window) -> list:
    where = [column <= win.end]
    if win.start is not None:
        where.append(column >= win.start)
    return where


def _events(plan_id: int, kpi: Kpi, win: Window) -> list:
    return [KpiEventRow.plan_id == plan_id, KpiEventRow.kpi_key == kpi.key, *_in_window(KpiEventRow.at, win)]


def observe(session: Session, plan_id: int, plan: Plan, kpi: Kpi, win: Window) -> Observation:
    """What the KPI's data in the window sums up to."""
    if kpi.source is KpiSource.manual:
        latest = session.exec(select(KpiValueRow).where(
            KpiValueRow.plan_id == plan_id, KpiValueRow.kpi_key == kpi.key, *_in_window(KpiValueRow.at, win))
            .order_by(KpiValueRow.at.desc(), KpiValueRow.id.desc())).first()
        if latest is None:
            return Observation()
        return Observation(n=latest.sample if latest.sample is not None else 1, count=1, latest=latest.value,
                           latest_at=latest.at)
    if kpi.source is KpiSource.unleash:
        yes = _served(session, plan, kpi, win)
        return Observation(n=yes, count=yes, total=float(yes))
    where = _events(plan_id, kpi, win)
    if kpi.cohort is not None:
        where.append(KpiEventRow.user_id.in_(_members(session, plan_id, plan, kpi.cohort)))
    count, distinct, total, total_sq = session.exec(select(
        func.count(KpiEventRow.id), func.count(KpiEventRow.user_id.distinct()),
        func.coalesce(func.sum(KpiEventRow.value), 0.0),
        func.coalesce(func.sum(KpiEventRow.value * KpiEventRow.value), 0.0)).where(*where)).one()
    n = count
    if kpi.how is Aggregation.share:
        n = session.exec(select(func.count()).select_from(_members(session, plan_id, plan, kpi.cohort).subquery())).one()
    return Observation(n=n, count=count, distinct=distinct, total=float(total), total_sq=float(total_sq))


def _served(session: Session, plan: Plan, kpi: Kpi, win: Window) -> int:
    """The yes answers of the KPI's flag in the plan's environment, by the hours that touch the window."""
    where = [ServedHourRow.flag == plan.flag_name(kpi.feature or ""), ServedHourRow.environment == plan.unleash.environment,
             ServedHourRow.hour <= win.end]
    if win.start is not None:
        where.append(ServedHourRow.hour > win.start - timedelta(hours=1))
    return int(session.exec(select(func.coalesce(func.sum(ServedHourRow.yes), 0)).where(*where)).one())


@dataclass(frozen=True)
class Point:
    day: date
    obs: Observation


def daily(session: Session, plan_id: int, plan: Plan, kpi: Kpi, win: Window, *, now: datetime) -> list[Point]:
    """The KPI's observation as it stood at the end of each day of the window up to now (for the charts):
    cumulative, so the last point is `observe` itself. A share counts today's members on every day."""
    end = min(now, win.end)
    first = win.start or _first_data(session, plan_id, plan, kpi) or end
    first_day, last_day = first.astimezone(UTC).date(), end.astimezone(UTC).date()  # days in UTC, as the buckets
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    if not days or len(days) > 400:
        days = days[-400:]
    per_day: dict[date, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])  # count, new users, sum, sum sq
    latest: dict[date, tuple[float, int]] = {}
    if kpi.source is KpiSource.manual:
        for row in session.exec(select(KpiValueRow).where(
                KpiValueRow.plan_id == plan_id, KpiValueRow.kpi_key == kpi.key, *_in_window(KpiValueRow.at, win))
                .order_by(KpiValueRow.at, KpiValueRow.id)):
            latest[row.at.astimezone(UTC).date()] = (row.value, row.sample if row.sample is not None else 1)
    elif kpi.source is KpiSource.unleash:
        where = [ServedHourRow.flag == plan.flag_name(kpi.feature or ""),
                 ServedHourRow.environment == plan.unleash.environment, ServedHourRow.hour <= win.end]
        if win.start is not None:
            where.append(ServedHourRow.hour > win.start - timedelta(hours=1))
        for hour, yes in session.exec(select(ServedHourRow.hour, ServedHourRow.yes).where(*where)):
            per_day[hour.astimezone(UTC).date()][0] += yes
    else:
        where = _events(plan_id, kpi, win)
        if kpi.cohort is not None:
            where.append(KpiEventRow.user_id.in_(_members(session, plan_id, plan, kpi.cohort)))
        for at, value in session.exec(select(KpiEventRow.at, KpiEventRow.value).where(*where)).yield_per(2000):
            bucket = per_day[at.astimezone(UTC).date()]
            bucket[0] += 1
            bucket[2] += value
            bucket[3] += value * value
        for first_at in session.exec(select(func.min(KpiEventRow.at)).where(
                *where, KpiEventRow.user_id.is_not(None)).group_by(KpiEventRow.user_id)):
            per_day[first_at.astimezone(UTC).date()][1] += 1
    members = observe(session, plan_id, plan, kpi, win).n if kpi.how is Aggregation.share else 0
    points: list[Point] = []
    count = distinct = 0
    total = total_sq = 0.0
    last: tuple[float, int] | None = None
    earlier = [d for d in per_day if days and d < days[0]]
    for d in earlier:  # a window longer than the chart: the days before it still count
        count += per_day[d][0]
        distinct += per_day[d][1]
        total += per_day[d][2]
        total_sq += per_day[d][3]
    for day in days:
        bucket = per_day.get(day)
        if bucket:
            count += bucket[0]
            distinct += bucket[1]
            total += bucket[2]
            total_sq += bucket[3]
        last = latest.get(day, last)
        if kpi.source is KpiSource.manual:
            obs = Observation(n=last[1], count=1, latest=last[0]) if last else Observation()
        elif kpi.how is Aggregation.share:
            obs = Observation(n=members, count=count, distinct=distinct)
        else:
            obs = Observation(n=count, count=count, distinct=distinct, total=total, total_sq=total_sq)
        points.append(Point(day, obs))
    return points


def _first_data(session: Session, plan_id: int, plan: Plan, kpi: Kpi) -> datetime | None:
    if kpi.source is KpiSource.manual:
        return session.exec(select(func.min(KpiValueRow.at)).where(KpiValueRow.plan_id == plan_id,
                                                                    KpiValueRow.kpi_key == kpi.key)).one()
    if kpi.source is KpiSource.unleash:
        return session.exec(select(func.min(ServedHourRow.hour)).where(
            ServedHourRow.flag == plan.flag_name(kpi.feature or ""))).one()
    return session.exec(select(func.min(KpiEventRow.at)).where(KpiEventRow.plan_id == plan_id,
                                                                KpiEventRow.kpi_key == kpi.key)).one()
