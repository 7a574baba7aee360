"""Plans: list with where each stands, create, apply a plan file, read, export, archive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from planner import audit
from planner import plans as stored
from planner.db import session_scope
from planner.errors import PlanError, PlanExists, PlanInvalid, PlanNotFound
from planner.milestones import Standing, standing
from planner.model import Plan
from planner.phasecontrol import load_controls
from planner.planfile import dump_plan, load_plan
from planner.plans import ApplyResult
from planner.store import live_plan, plan_row, read_plan_cached
from planner.tables import PlanRow
from planner.validation import parse_plan


@dataclass(frozen=True)
class PlanSummary:
    row: PlanRow
    plan: Plan
    standing: Standing


def list_plans(*, database_url: str, now: datetime | None = None) -> list[PlanSummary]:
    """The plans that are not archived, by key, each with the phase running and what comes next."""
    now = now or datetime.now(UTC)
    with session_scope(database_url) as session:
        rows = stored.list_plans(session=session)
        return [PlanSummary(row, plan, standing(plan, now=now, controls=load_controls(session, row.id)))
                for row in rows for plan in [read_plan_cached(session, row)]]


def get_plan(*, database_url: str, key: str) -> Plan:
    """The plan `key`; PlanNotFound when there is none or it is archived."""
    with session_scope(database_url) as session:
        return live_plan(session, key)[1]


def export_plan(*, database_url: str, key: str) -> str:
    """The plan as YAML that applies back to the same plan."""
    return dump_plan(get_plan(database_url=database_url, key=key))


def create_plan(*, database_url: str, key: str, title: str, actor: str) -> ApplyResult:
    """A new, empty plan. PlanInvalid for a bad key, PlanExists when the key is taken (archived plans too:
    applying a plan file of that key restores one)."""
    plan = parse_plan({"plan": key.strip(), "title": title.strip()})
    with session_scope(database_url) as session:
        if plan_row(session, plan.key) is not None:
            raise PlanExists(plan.key)
        return stored.apply_plan(session=session, plan=plan, actor=actor)


def apply_plan_text(*, database_url: str, text: str | bytes, actor: str) -> ApplyResult:
    """Validate a plan file and store it; PlanInvalid (every error by its field or line) writes nothing."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise PlanInvalid([PlanError("(file)", "is not UTF-8 text; save the plan file as UTF-8")]) from None
    return apply_plan(database_url=database_url, plan=load_plan(text), actor=actor)


def apply_plan(*, database_url: str, plan: Plan, actor: str) -> ApplyResult:
    """Make the stored plan equal `plan` (validated); applying the same plan again writes nothing."""
    with session_scope(database_url) as session:
        return stored.apply_plan(session=session, plan=plan, actor=actor)


def archive_plan(*, database_url: str, key: str, actor: str) -> bool:
    """Archive the plan (its page and pilots go; applying its file again restores it). False when it was
    archived already. Unleash keeps its flags until the flags are cleaned up by hand."""
    with session_scope(database_url) as session:
        row = plan_row(session, key)
        if row is None:
            raise PlanNotFound(key)
        if row.archived:
            return False
        row.archived = True
        session.add(row)
        audit.record(session, action="plan.archive", actor=actor, plan_id=row.id, summary="archived the plan")
        return True


def platform_view(*, database_url: str, key: str) -> dict:
    """What the platform needs of a plan to read its flags: the features with their flag names and the context
    properties its cohorts' rules use (flags.platform builds the Unleash context from these). `version`
    changes with every change of the plan."""
    from planner.membership import STANDARD_FIELDS

    plan = get_plan(database_url=database_url, key=key)
    with session_scope(database_url) as session:
        version = live_plan(session, key)[0].version
    return {"plan": plan.key, "version": version, "environment": plan.unleash.environment,
            "features": [{"key": f.key, "name": f.name, "flag": plan.flag_name(f.key)} for f in plan.features],
            "properties": sorted({r.property for c in plan.cohorts for r in c.rules} - STANDARD_FIELDS)}
