"""Plan services: apply a validated plan, list plans. Each owns its transaction's content."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from planner import approvals, audit
from planner.approvals import edit_needs_approval
from planner.model import Plan
from planner.phasecontrol import load_controls
from planner.planfile import plan_document
from planner.store import plan_row, read_plan, write_plan
from planner.tables import PlanRow, utcnow


@dataclass(frozen=True)
class ApplyResult:
    plan: str
    created: bool
    changed: bool
    version: int
    changes: list[str] = field(default_factory=list)
    pending: int | None = None  # four eyes: the request that waits for a second lead, nothing written yet


def describe_changes(before: Plan | None, after: Plan) -> list[str]:
    """Human lines naming what applying `after` over `before` adds, removes and changes."""
    if before is None:
        return [f"created plan '{after.key}' with {len(after.features)} features, {len(after.cohorts)} cohorts, "
                f"{len(after.phases)} phases"]
    lines = []
    for name in ("title", "goal", "flag_prefix", "currency", "sync", "four_eyes", "guidelines", "unleash"):
        if getattr(before, name) != getattr(after, name):
            lines.append(f"changed {name}")
    for name in ("features", "cohorts", "kpis", "phases"):
        old = {obj.key: obj for obj in getattr(before, name)}
        new = {obj.key: obj for obj in getattr(after, name)}
        singular = name[:-1]
        lines += [f"added {singular} '{k}'" for k in new if k not in old]
        lines += [f"removed {singular} '{k}'" for k in old if k not in new]
        lines += [f"changed {singular} '{k}'" for k in new if k in old and new[k] != old[k]]
        if [k for k in old if k in new] != [k for k in new if k in old]:
            lines.append(f"reordered {name}")
    return lines


def apply_plan(*, session: Session, plan: Plan, actor: str) -> ApplyResult:
    """Make the stored plan equal `plan` (already validated). Applying the same plan again writes nothing."""
    row = plan_row(session, plan.key)
    before = read_plan(session, row) if row else None
    if before == plan and not row.archived:
        return ApplyResult(plan.key, created=False, changed=False, version=row.version)
    changes = describe_changes(before, plan)
    if before is not None and not row.archived and before.four_eyes and edit_needs_approval(
            before, plan, load_controls(session, row.id), at=utcnow()):
        request = approvals.request(session, plan_row=row, kind="edit", actor=actor, summary="; ".join(changes),
                                    document=plan_document(plan))
        return ApplyResult(plan.key, created=False, changed=False, version=row.version, changes=changes,
                           pending=request.id)
    row = write_plan(session, plan)
    if row.archived:
        row.archived = False
        changes.append("restored from the archive")
    audit.record(session, action="plan.apply", actor=actor, plan_id=row.id, summary="; ".join(changes),
                 detail={"version": row.version, "changes": changes})
    return ApplyResult(plan.key, created=before is None, changed=True, version=row.version, changes=changes)


def list_plans(*, session: Session, include_archived: bool = False) -> list[PlanRow]:
    query = select(PlanRow).order_by(PlanRow.key)
    if not include_archived:
        query = query.where(PlanRow.archived == False)  # noqa: E712
    return list(session.exec(query))
