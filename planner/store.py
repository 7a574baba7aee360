"""Reading a plan from the database and writing one into it, keeping row ids stable by key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, select

from planner.errors import PlanNotFound
from planner.model import Cohort, Feature, Grant, Guidelines, Kpi, Phase, Plan, Rule, Training, UnleashBinding
from planner.tables import CohortRow, CohortUserRow, FeatureRow, KpiRow, PhaseRow, PlanRow, utcnow


def plan_row(session: Session, key: str) -> PlanRow | None:
    return session.exec(select(PlanRow).where(PlanRow.key == key)).first()


def _children(session: Session, table: type[SQLModel], plan_id: int) -> list[Any]:
    return list(session.exec(select(table).where(table.plan_id == plan_id).order_by(table.position)))


def read_plan(session: Session, row: PlanRow) -> Plan:
    cohorts = _children(session, CohortRow, row.id)
    users: dict[int, list[str]] = {c.id: [] for c in cohorts}
    if cohorts:
        for u in session.exec(select(CohortUserRow).where(CohortUserRow.cohort_id.in_(list(users)))
                              .order_by(CohortUserRow.cohort_id, CohortUserRow.position)):
            users[u.cohort_id].append(u.user_id)
    return Plan(
        plan=row.key, title=row.title, goal=row.goal, flag_prefix=row.flag_prefix, currency=row.currency,
        guidelines=Guidelines(version=row.guidelines_version, text=row.guidelines_text,
                              pause_until_accepted=row.guidelines_pause),
        unleash=UnleashBinding(project=row.project, environment=row.environment),
        features=tuple(Feature(key=f.key, name=f.name, description=f.description)
                       for f in _children(session, FeatureRow, row.id)),
        cohorts=tuple(Cohort(key=c.key, name=c.name, kind=c.kind, description=c.description, interests=c.interests,
                             needs=c.needs, capacity=c.capacity,
                             percentage=c.percentage, users=tuple(users[c.id]),
                             rules=tuple(Rule.model_validate(r) for r in c.rules)) for c in cohorts),
        kpis=tuple(Kpi(key=k.key, name=k.name, source=k.source, target=k.target)
                   for k in _children(session, KpiRow, row.id)),
        phases=tuple(Phase(key=p.key, name=p.name, starts=datetime.fromisoformat(p.starts),
                           ends=datetime.fromisoformat(p.ends) if p.ends else None, status=p.status,
                           cohorts=tuple(p.cohorts), features=tuple(p.features), gate=tuple(p.gate),
                           grants=tuple(Grant.model_validate(g) for g in p.grants), owners=tuple(p.owners),
                           budget=p.budget, trainings=tuple(Training.model_validate(t) for t in p.trainings))
                     for p in _children(session, PhaseRow, row.id)),
    )


def live_plan(session: Session, key: str) -> tuple[PlanRow, Plan]:
    """The row and plan of a plan that is not archived (PlanNotFound otherwise), parsed once per version."""
    row = plan_row(session, key)
    if row is None or row.archived:
        raise PlanNotFound(key)
    return row, read_plan_cached(session, row)


def load_plan(session: Session, key: str) -> Plan | None:
    row = plan_row(session, key)
    return read_plan(session, row) if row else None


_parsed: dict[tuple[str, str], tuple[tuple[Any, ...], Plan]] = {}


def read_plan_cached(session: Session, row: PlanRow) -> Plan:
    """`read_plan`, kept per plan and version: every change of a plan's content bumps its version, so
    the hot paths (the pilot page, each opt-in, each edit) do not re-read whole plans. Plans are immutable
    values. Kept by database URL (an engine's id() can be reused by the next engine) and checked against
    the row's id and last write too, so a plan made again under the same key is never mistaken for the old."""
    key = (str(session.get_bind().url), row.key)
    stamp = (row.id, row.version, row.updated_at)
    cached = _parsed.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    plan = read_plan(session, row)
    _parsed[key] = (stamp, plan)
    return plan


def _feature_values(f: Feature) -> dict[str, Any]:
    return {"name": f.name, "description": f.description}


def _cohort_values(c: Cohort) -> dict[str, Any]:
    return {"name": c.name, "kind": c.kind.value, "description": c.description, "interests": c.interests,
            "needs": c.needs, "capacity": c.capacity,
            "percentage": c.percentage, "rules": [r.model_dump(mode="json") for r in c.rules]}


def _kpi_values(k: Kpi) -> dict[str, Any]:
    return {"name": k.name, "source": k.source.value, "target": k.target}


def _phase_values(p: Phase) -> dict[str, Any]:
    return {"name": p.name, "starts": p.starts.isoformat(), "ends": p.ends.isoformat() if p.ends else None,
            "status": p.status.value, "cohorts": list(p.cohorts), "features": list(p.features),
            "gate": list(p.gate), "grants": [g.model_dump(mode="json") for g in p.grants], "owners": list(p.owners),
            "budget": p.budget, "trainings": [{**t.model_dump(mode="json"), "at": t.at.isoformat()} for t in p.trainings]}


def _upsert(session: Session, table: type[SQLModel], plan_id: int, specs, values) -> dict[str, Any]:
    """Make the plan's rows of `table` match `specs`: update by key, insert new, delete the rest."""
    existing = {row.key: row for row in _children(session, table, plan_id)}
    rows = {}
    for position, spec in enumerate(specs):
        row = existing.pop(spec.key, None) or table(plan_id=plan_id, key=spec.key)
        for name, value in {**values(spec), "position": position}.items():
            if getattr(row, name, None) != value:
                setattr(row, name, value)
        session.add(row)
        rows[spec.key] = row
    for row in existing.values():
        session.delete(row)
    session.flush()
    return rows


def _write_users(session: Session, cohort_row: CohortRow, users: tuple[str, ...]) -> None:
    current = list(session.exec(select(CohortUserRow).where(CohortUserRow.cohort_id == cohort_row.id)
                                .order_by(CohortUserRow.position)))
    if [u.user_id for u in current] == list(users):
        return
    for row in current:
        session.delete(row)
    session.flush()
    session.add_all(CohortUserRow(cohort_id=cohort_row.id, user_id=u, position=i) for i, u in enumerate(users))


def write_plan(session: Session, plan: Plan) -> PlanRow:
    """Store `plan` as the current content of its plan row (created if new); bumps the version."""
    row = plan_row(session, plan.key)
    if row is None:
        row = PlanRow(key=plan.key, version=0)
    row.title, row.goal, row.flag_prefix, row.currency = plan.title, plan.goal, plan.flag_prefix, plan.currency
    row.guidelines_version, row.guidelines_text = plan.guidelines.version, plan.guidelines.text
    row.guidelines_pause = plan.guidelines.pause_until_accepted
    row.project, row.environment = plan.unleash.project, plan.unleash.environment
    row.version += 1
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    _upsert(session, FeatureRow, row.id, plan.features, _feature_values)
    cohort_rows = _upsert(session, CohortRow, row.id, plan.cohorts, _cohort_values)
    for cohort in plan.cohorts:
        _write_users(session, cohort_rows[cohort.key], cohort.users)
    _upsert(session, KpiRow, row.id, plan.kpis, _kpi_values)
    _upsert(session, PhaseRow, row.id, plan.phases, _phase_values)
    session.flush()
    return row
