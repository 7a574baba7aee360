"""Leads' actions on phases (planner.lifecycle.Control) in the database, and the statuses last recorded."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from planner.lifecycle import Control, Controls, PhaseStatus
from planner.tables import PhaseControlRow, utcnow

FIELDS = ("state", "since", "kept", "cause", "started_at", "reason", "actor", "gate", "gate_at", "gate_by", "gate_reason")


def _control(row: PhaseControlRow) -> Control:
    return Control(row.phase_key, **{name: getattr(row, name) for name in FIELDS})


def _rows(session: Session, plan_id: int) -> dict[str, PhaseControlRow]:
    return {row.phase_key: row for row in session.exec(select(PhaseControlRow).where(PhaseControlRow.plan_id == plan_id))}


def load_controls(session: Session, plan_id: int) -> Controls:
    return {key: control for key, row in _rows(session, plan_id).items()
            if (control := _control(row)) != Control(key)}


def save_controls(session: Session, plan_id: int, controls: Controls) -> None:
    """Make the stored controls `controls`; a phase not in it runs by its dates again."""
    rows = _rows(session, plan_id)
    for key in set(rows) | set(controls):
        control = controls.get(key) or Control(key)
        row = rows.get(key) or PhaseControlRow(plan_id=plan_id, phase_key=key)
        if _control(row) == control and row.id is not None:
            continue
        for name in FIELDS:
            setattr(row, name, getattr(control, name))
        row.updated_at = utcnow()
        session.add(row)
    session.flush()


def recorded_statuses(session: Session, plan_id: int) -> dict[str, str]:
    return {key: row.status for key, row in _rows(session, plan_id).items() if row.status}


def record_status(session: Session, plan_id: int, phase_key: str, before: str, after: PhaseStatus) -> bool:
    """Move a phase's recorded status from `before` to `after` in one compare-and-set UPDATE: True for the one
    caller that moved it (who then writes the transition to the audit log), False when another did."""
    return _compare_and_set(session, plan_id, phase_key, "status", before, {"status": after.value})


def recorded_verdicts(session: Session, plan_id: int) -> dict[str, str]:
    return {key: row.verdict for key, row in _rows(session, plan_id).items() if row.verdict}


def record_verdict(session: Session, plan_id: int, phase_key: str, before: str, after: str, text: str) -> bool:
    """Move a gate's recorded verdict from `before` to `after`, as `record_status` does for a status."""
    return _compare_and_set(session, plan_id, phase_key, "verdict", before,
                            {"verdict": after, "verdict_text": text, "verdict_at": utcnow()})


def _compare_and_set(session: Session, plan_id: int, phase_key: str, column: str, before: str,
                     values: dict) -> bool:
    moved = session.exec(update(PhaseControlRow)
                         .where(PhaseControlRow.plan_id == plan_id, PhaseControlRow.phase_key == phase_key,
                                getattr(PhaseControlRow, column) == before)
                         .values(**values, updated_at=utcnow())).rowcount
    if moved:
        return True
    if before == "" and session.exec(select(PhaseControlRow.id).where(
            PhaseControlRow.plan_id == plan_id, PhaseControlRow.phase_key == phase_key)).first() is None:
        nested = session.begin_nested()
        try:
            session.add(PhaseControlRow(plan_id=plan_id, phase_key=phase_key, **values))
            session.flush()
            nested.commit()
            return True
        except IntegrityError:  # another controller inserted it first (unique plan_id, phase_key)
            nested.rollback()
    return False
