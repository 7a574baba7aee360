"""The audit log: every change to a plan, every sync, every override."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from planner.tables import AuditRow


def record(session: Session, *, action: str, actor: str, summary: str, plan_id: int | None = None,
           detail: dict[str, Any] | None = None) -> AuditRow:
    entry = AuditRow(plan_id=plan_id, actor=actor, action=action, summary=summary, detail=detail or {})
    session.add(entry)
    return entry


def entries(session: Session, *, plan_id: int | None = None, limit: int = 100) -> list[AuditRow]:
    query = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
    if plan_id is not None:
        query = query.where(AuditRow.plan_id == plan_id)
    return list(session.exec(query))
