"""Sync runs in the database: the per-plan lease that keeps syncs apart, and each run's record."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, select

from planner.tables import PlanRow, SyncRunRow, utcnow

LEASE = timedelta(minutes=10)  # a sync; one whose process died blocks the next this long at most
PUSH_LEASE = timedelta(minutes=2)  # an opt-in push round: a few writes, it is over in seconds


class SyncBusy(RuntimeError):
    """Another sync of the same plan is running (`push_round`: an opt-in push, over in a moment)."""

    def __init__(self, message: str, *, push_round: bool = False):
        super().__init__(message)
        self.push_round = push_round


PUSH_OWNER = "push-"  # the lease owner's prefix during an opt-in push round


def acquire_lease(session: Session, plan_row: PlanRow, *, now: datetime | None = None,
                  hold: timedelta = LEASE, push_round: bool = False) -> str:
    """Take the plan's sync lease in one atomic UPDATE (works the same on SQLite and PostgreSQL). Syncs and
    opt-in pushes (of every process) take it, so that only one of them writes a plan's flags at a time."""
    now = now or utcnow()
    owner = (PUSH_OWNER if push_round else "") + uuid.uuid4().hex
    taken = session.exec(
        update(PlanRow)
        .where(PlanRow.id == plan_row.id)
        .where(or_(PlanRow.sync_lease_until.is_(None), PlanRow.sync_lease_until < now))
        .values(sync_lease_owner=owner, sync_lease_until=now + hold)
    ).rowcount
    if taken != 1:
        holder = session.exec(select(PlanRow.sync_lease_owner).where(PlanRow.id == plan_row.id)).first() or ""
        raise SyncBusy(f"another sync of plan '{plan_row.key}' is running; try again when it has finished",
                       push_round=holder.startswith(PUSH_OWNER))
    # a run still marked running holds no lease any more: its process died
    for run in session.exec(select(SyncRunRow).where(SyncRunRow.plan_id == plan_row.id,
                                                     SyncRunRow.outcome == "running")):
        run.outcome, run.finished_at = "interrupted", now
        run.error = "the sync stopped before it finished (process ended); the next sync converges"
        session.add(run)
    return owner


def release_lease(session: Session, plan_id: int, owner: str, *, keep_until: datetime | None = None) -> None:
    """Give the lease back; with `keep_until`, only then (a push round's cool-down, see membership_push)."""
    values = ({"sync_lease_until": keep_until} if keep_until is not None
              else {"sync_lease_owner": None, "sync_lease_until": None})
    session.exec(update(PlanRow).where(PlanRow.id == plan_id, PlanRow.sync_lease_owner == owner).values(**values))


def start_run(session: Session, *, plan_row: PlanRow, actor: str, dry_run: bool) -> SyncRunRow:
    run = SyncRunRow(plan_id=plan_row.id, plan_version=plan_row.version, actor=actor, dry_run=dry_run)
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run: SyncRunRow, *, outcome: str, writes: int, report: dict[str, Any],
               desired: dict[str, Any] | None = None, error: str | None = None) -> SyncRunRow:
    run = session.merge(run)
    run.outcome, run.writes, run.error, run.finished_at = outcome, writes, error, utcnow()
    run.counts = {**report.get("counts", {}), "writes": writes}
    run.changes = report.get("changes", [])
    if report.get("not_owned") or report.get("conflicts"):
        run.changes = run.changes + [{"kind": "note", "text": t} for t in
                                     report.get("conflicts", []) + [f"not owned, left alone: {n}" for n in
                                                                    report.get("not_owned", [])]]
    run.desired = desired or {}
    session.add(run)
    return run


def previous_fingerprints(session: Session, plan_id: int) -> dict[str, Any] | None:
    """What the last completed sync left in Unleash, to tell hand edits (drift) from plan changes."""
    run = session.exec(select(SyncRunRow).where(SyncRunRow.plan_id == plan_id, SyncRunRow.outcome == "ok",
                                                SyncRunRow.dry_run == False)  # noqa: E712
                       .order_by(SyncRunRow.id.desc())).first()
    return run.desired if run else None


def runs(session: Session, plan_id: int, limit: int = 20) -> list[SyncRunRow]:
    return list(session.exec(select(SyncRunRow).where(SyncRunRow.plan_id == plan_id)
                             .order_by(SyncRunRow.id.desc()).limit(limit)))


def has_synced(session: Session, plan_id: int) -> bool:
    """Whether a lead's sync of the plan has completed once (cheap: no fingerprints are loaded)."""
    return session.exec(select(SyncRunRow.id).where(SyncRunRow.plan_id == plan_id, SyncRunRow.outcome == "ok",
                                                    SyncRunRow.dry_run == False).limit(1)).first() is not None  # noqa: E712
