"""The management report: what a lead shows management about one plan, read in one go."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import func, select

from planner import strategy
from planner.db import session_scope
from planner.model import Goal, Phase, Plan, Training
from planner.store import live_plan
from planner.tables import CohortRow, MembershipRow
from services import dashboard, phases


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    cards: tuple[dashboard.KpiCard, ...]  # its KPIs against their targets
    groups: tuple[str, ...]  # the names of its target groups

    @property
    def met(self) -> int:
        return sum(1 for c in self.cards if c.verdict.outcome.value == "pass")


@dataclass
class Report:
    plan: Plan
    at: datetime
    goals: list[GoalProgress] = field(default_factory=list)
    unlinked: list[dashboard.KpiCard] = field(default_factory=list)  # KPIs no goal names
    phases: list[phases.PhaseView] = field(default_factory=list)
    reach: list[dashboard.CohortReach] = field(default_factory=list)
    adoption: dict[str, dashboard.KpiCard] = field(default_factory=dict)  # cohort key -> its share KPI
    budgets: list[strategy.Budget] = field(default_factory=list)
    planned: float = 0.0
    spent: float = 0.0
    held: list[tuple[Phase, Training]] = field(default_factory=list)
    coming: list[tuple[Phase, Training]] = field(default_factory=list)
    members: int = 0
    accepted: int = 0  # members who accepted the current guidelines

    @property
    def accepted_share(self) -> float | None:
        return self.accepted / self.members if self.members else None


def report(*, database_url: str, key: str, now: datetime | None = None) -> Report:
    now = now or datetime.now(UTC)
    board = dashboard.board(database_url=database_url, key=key, now=now)
    plan = board.plan
    _plan, views = phases.phase_list(database_url=database_url, key=key, now=now)
    cards = {c.kpi.key: c for c in board.cards}
    result = Report(plan, now, phases=views, reach=board.reach)
    for goal in plan.goals:
        result.goals.append(GoalProgress(goal, tuple(cards[k] for k in goal.kpis if k in cards),
                                         tuple(plan.cohort(c).name or c for c in goal.cohorts)))
    named = {k for g in plan.goals for k in g.kpis}
    result.unlinked = [c for c in board.cards if c.kpi.key not in named]
    result.adoption = {c.kpi.cohort: c for c in board.cards if c.kpi.cohort and c.kpi.how.value == "share"}
    result.budgets, result.planned, result.spent = strategy.budgets(plan)
    result.held, result.coming = strategy.trainings(plan)
    with session_scope(database_url) as session:
        row, _ = live_plan(session, key)
        members = (select(func.count()).select_from(MembershipRow).join(CohortRow)
                   .where(CohortRow.plan_id == row.id, MembershipRow.status == "member"))
        result.members = session.exec(members).one()
        result.accepted = session.exec(members.where(
            MembershipRow.guidelines_version == plan.guidelines.version)).one()
    return result
