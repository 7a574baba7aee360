"""The KPI dashboard, read in one transaction: each KPI's verdict and its value day by day, the gates with the
verdicts that hold or open them, and adoption (members and waitlists, opt-ins over time, served counts)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlmodel import Session, func, select

from planner.confidence import Bounds, mean_bounds, share_bounds
from planner.db import session_scope
from planner.kpidata import Point, daily, entered_values, observe
from planner.kpis import GateVerdict, Verdict, verdict, window, window_words
from planner.lifecycle import control_of, effective_start, label, planned_start
from planner.model import Aggregation, CohortKind, Kpi, KpiSource, Plan
from planner.phasecontrol import load_controls
from planner.store import live_plan
from planner.tables import CohortRow, KpiValueRow, MembershipRow, ServedHourRow
from services import gates


@dataclass(frozen=True)
class Sample:
    day: date
    value: float | None
    bounds: Bounds | None = None


@dataclass(frozen=True)
class KpiCard:
    kpi: Kpi
    verdict: Verdict
    decides: str  # what its window ends at, in words: "Wave 1's start" or "now"
    feeds: tuple[str, ...]  # the names of the phases whose gate it is part of
    series: tuple[Sample, ...]
    entered: tuple[KpiValueRow, ...] = ()
    window: str = ""  # in words: "since Pilot's start", "the last 14 days", "all the data"

    @property
    def name(self) -> str:
        return self.kpi.name or self.kpi.key

    @property
    def percent(self) -> bool:
        return self.kpi.how is Aggregation.share


@dataclass(frozen=True)
class GateCard:
    phase: str  # key
    name: str
    verdict: GateVerdict
    opened: str  # "" | passed | overridden
    opened_at: datetime | None
    opened_by: str
    opened_reason: str
    starts: datetime
    override_refused: str | None


@dataclass(frozen=True)
class CohortReach:
    key: str
    name: str
    members: int
    waiting: int
    capacity: int | None
    joins: tuple[tuple[date, int], ...]  # members by the day they joined, cumulative


@dataclass
class Board:
    plan: Plan
    cards: list[KpiCard] = field(default_factory=list)
    gates: list[GateCard] = field(default_factory=list)
    reach: list[CohortReach] = field(default_factory=list)
    served: list[tuple[str, int, int]] = field(default_factory=list)  # feature name, yes, no (copied hours)
    served_since: datetime | None = None


def _sample(kpi: Kpi, point: Point) -> Sample:
    try:
        return _bounded_sample(kpi, point)
    except ValueError:  # values outside a narrowed scale: drawn without a band
        return Sample(point.day, point.obs.total / point.obs.n if point.obs.n else None)


def _bounded_sample(kpi: Kpi, point: Point) -> Sample:
    obs = point.obs
    how = kpi.how
    if how is Aggregation.share:
        value = obs.distinct / obs.n if obs.n else None
        return Sample(point.day, value, share_bounds(obs.distinct, obs.n) if obs.n else None)
    if how is Aggregation.mean:
        value = obs.total / obs.n if obs.n else None
        return Sample(point.day, value, mean_bounds(obs.total, obs.total_sq, obs.n, low=kpi.scale[0],
                                                    high=kpi.scale[1]) if obs.n and kpi.scale else None)
    if how is Aggregation.latest:
        return Sample(point.day, obs.latest)
    value = {Aggregation.count: obs.count, Aggregation.distinct_users: obs.distinct, Aggregation.sum: obs.total}[how]
    return Sample(point.day, float(value))


def board(*, database_url: str, key: str, now: datetime | None = None, charts: bool = True) -> Board:
    """Everything the KPI dashboard shows, read in one transaction."""
    now = now or datetime.now(UTC)
    with session_scope(database_url) as session:
        row, plan = live_plan(session, key)
        controls = load_controls(session, row.id)
        judged = gates.verdicts(session, row.id, plan, controls, now=now)
        result = Board(plan)
        starts = {p.key: effective_start(p, controls) for p in plan.phases}
        for kpi in plan.kpis:
            gated = [p for p in plan.phases if kpi.key in p.gate]
            deciding = next((p for p in gated if not control_of(controls, p.key).gate), gated[-1] if gated else None)
            end = planned_start(deciding, controls) if deciding else now
            win = window(kpi, plan, end=end, starts=starts, decides=deciding is not None)
            if deciding is not None:
                current = next(v for v in judged[deciding.key].verdicts if v.kpi.key == kpi.key)
            else:
                current = verdict(kpi, observe(session, row.id, plan, kpi, win), win, now=now)
            series = tuple(_sample(kpi, p) for p in daily(session, row.id, plan, kpi, win, now=now)) if charts else ()
            entered = tuple(entered_values(session, row.id, kpi.key)) if kpi.source is KpiSource.manual else ()
            result.cards.append(KpiCard(kpi, current, f"{label(deciding)}'s start" if deciding else "now",
                                        tuple(label(p) for p in gated), series, entered, window_words(kpi, plan)))
        result.gates = _gate_cards(plan, controls, judged, now)
        result.reach = _reach(session, row.id, plan) if charts else []
        result.served, result.served_since = _served(session, plan) if charts else ([], None)
    return result


def _gate_cards(plan: Plan, controls, judged: dict[str, GateVerdict], now: datetime) -> list[GateCard]:
    cards = []
    for phase in plan.phases:
        if phase.gate:
            control = control_of(controls, phase.key)
            cards.append(GateCard(phase.key, label(phase), judged[phase.key], control.gate, control.gate_at,
                                  control.gate_by, control.gate_reason, planned_start(phase, controls),
                                  gates.refused_override(plan, controls, phase.key, now)))
    return cards


def _reach(session: Session, plan_id: int, plan: Plan) -> list[CohortReach]:
    reach = []
    for cohort in plan.cohorts:
        if cohort.kind is not CohortKind.opt_in:
            continue
        cohort_id = session.exec(select(CohortRow.id).where(CohortRow.plan_id == plan_id,
                                                            CohortRow.key == cohort.key)).one()
        counts = dict(session.exec(select(MembershipRow.status, func.count()).where(
            MembershipRow.cohort_id == cohort_id).group_by(MembershipRow.status)).all())
        per_day: dict[date, int] = defaultdict(int)
        for joined in session.exec(select(MembershipRow.joined_at).where(
                MembershipRow.cohort_id == cohort_id, MembershipRow.status == "member")).all():
            if joined is not None:
                per_day[joined.astimezone(UTC).date()] += 1
        total, joins = 0, []
        for day in sorted(per_day):
            total += per_day[day]
            joins.append((day, total))
        reach.append(CohortReach(cohort.key, cohort.name or cohort.key, counts.get("member", 0),
                                 counts.get("waiting", 0), cohort.capacity, tuple(joins)))
    return reach


def _served(session: Session, plan: Plan) -> tuple[list[tuple[str, int, int]], datetime | None]:
    flags = {plan.flag_name(f.key): f.name or f.key for f in plan.features}
    rows = session.exec(select(ServedHourRow.flag, func.sum(ServedHourRow.yes), func.sum(ServedHourRow.no),
                               func.min(ServedHourRow.hour))
                        .where(ServedHourRow.flag.in_(list(flags)), ServedHourRow.environment == plan.unleash.environment)
                        .group_by(ServedHourRow.flag)).all()
    found = {flag: (int(yes or 0), int(no or 0), first) for flag, yes, no, first in rows}
    since = min((v[2] for v in found.values() if v[2] is not None), default=None)
    return [(name, found.get(flag, (0, 0, None))[0], found.get(flag, (0, 0, None))[1]) for flag, name in flags.items()], since
