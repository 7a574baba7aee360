"""The audit log: who changed what and when, for one plan or all."""

from __future__ import annotations

from dataclasses import dataclass

from planner import audit, plans
from planner.db import session_scope
from planner.store import plan_row
from planner.tables import AuditRow


@dataclass(frozen=True)
class AuditLog:
    entries: list[AuditRow]
    plan_names: dict[int, str]  # plan id -> key, archived plans too


def audit_log(*, database_url: str, plan_key: str = "", limit: int = 200) -> AuditLog:
    """The newest entries (of plan `plan_key` when given; none for an unknown plan)."""
    with session_scope(database_url) as session:
        row = plan_row(session, plan_key) if plan_key else None
        rows = audit.entries(session, plan_id=row.id if row else None, limit=limit) if (row or not plan_key) else []
        names = {p.id: p.key for p in plans.list_plans(session=session, include_archived=True)}
    return AuditLog(rows, names)
