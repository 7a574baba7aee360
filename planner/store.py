"""Reading a plan from the database and writing one into it, keeping row ids stable by key."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, SQLModel, select

from planner.errors import PlanNotFound
from planner.model import PARTS, Plan, Spec
from planner.tables import CohortRow, CohortUserRow, FeatureRow, GoalRow, KpiRow, PhaseRow, PlanRow, utcnow


def plan_row(session: Session, key: str) -> PlanRow | None:
    return session.exec(select(PlanRow).where(PlanRow.key == key)).first()


def _children(session: Session, table: type[SQLModel], plan_id: int) -> list[Any]:
    return list(session.exec(select(table).where(table.plan_id == plan_id).order_by(table.position)))


# The one mapping between a plan and its rows. The plan's own columns: column -> field path in the plan.
PLAN_COLUMNS = {"title": "title", "goal": "goal", "flag_prefix": "flag_prefix", "currency": "currency",
                "sync_mode": "sync", "four_eyes": "four_eyes", "guidelines_version": "guidelines.version", "guidelines_text": "guidelines.text",
                "guidelines_pause": "guidelines.pause_until_accepted", "project": "unleash.project",
                "environment": "unleash.environment"}
# Each part of a plan is a table whose columns are the part's fields by name (a cohort's users have a
# table of their own, in order), plus the row's plan, position and id.
TABLES: dict[str, type[SQLModel]] = {"features": FeatureRow, "cohorts": CohortRow, "kpis": KpiRow, "goals": GoalRow,
                                     "phases": PhaseRow}
OWN_TABLE = {"users"}


def _row_values(item: Spec) -> dict[str, Any]:
    """An item's columns: its fields as JSON would carry them (instants as ISO text, enums as values)."""
    return item.model_dump(mode="json", exclude={"key"} | OWN_TABLE)


def _item(model: type[Spec], row: SQLModel, **extra: Any) -> Spec:
    return model.model_validate({name: getattr(row, name) for name in model.model_fields if name not in OWN_TABLE}
                                | extra)


def read_plan(session: Session, row: PlanRow) -> Plan:
    doc: dict[str, Any] = {"plan": row.key}
    for column, path in PLAN_COLUMNS.items():
        *parents, name = path.split(".")
        target = doc
        for parent in parents:
            target = target.setdefault(parent, {})
        target[name] = getattr(row, column)
    rows = {kind: _children(session, TABLES[kind], row.id) for kind in PARTS}
    users: dict[int, list[str]] = {c.id: [] for c in rows["cohorts"]}
    if users:
        for u in session.exec(select(CohortUserRow).where(CohortUserRow.cohort_id.in_(list(users)))
                              .order_by(CohortUserRow.cohort_id, CohortUserRow.position)):
            users[u.cohort_id].append(u.user_id)
    for kind, model in PARTS.items():
        doc[kind] = [_item(model, r, **({"users": users[r.id]} if kind == "cohorts" else {})) for r in rows[kind]]
    return Plan.model_validate(doc)


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


def _upsert(session: Session, table: type[SQLModel], plan_id: int, specs) -> dict[str, Any]:
    """Make the plan's rows of `table` match `specs`: update by key, insert new, delete the rest."""
    existing = {row.key: row for row in _children(session, table, plan_id)}
    rows = {}
    for position, spec in enumerate(specs):
        row = existing.pop(spec.key, None) or table(plan_id=plan_id, key=spec.key)
        for name, value in {**_row_values(spec), "position": position}.items():
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
    values = plan.model_dump(mode="json", include={"title", "goal", "flag_prefix", "currency", "sync", "four_eyes", "guidelines",
                                                    "unleash"})
    for column, path in PLAN_COLUMNS.items():
        value = values
        for name in path.split("."):
            value = value[name]
        setattr(row, column, value)
    row.version += 1
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    for kind in PARTS:
        written = _upsert(session, TABLES[kind], row.id, getattr(plan, kind))
        if kind == "cohorts":
            for cohort in plan.cohorts:
                _write_users(session, written[cohort.key], cohort.users)
    session.flush()
    return row
