"""Sync jobs in the database: the per-plan lease that keeps syncs apart, and each job's record.

A job goes queued → running → done | failed, or → abandoned when the process running it died: its lease,
renewed by a heartbeat while it runs, then runs out within seconds, and whoever looks next (the panel,
the next sync) marks it. Progress (done of total) is written as the job runs, so any process shows it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, select

from planner.errors import SyncBusy
from planner.tables import PlanRow, SyncRunRow, utcnow

LEASE = timedelta(seconds=30)  # renewed every few seconds while a sync runs (PLANNER_SYNC_LEASE_SECONDS)
PUSH_LEASE = LEASE  # an opt-in push round (a few writes, over in seconds) by default holds it as long
PUSH_OWNER = "push-"  # the lease owner's prefix during an opt-in push round
ACTIVE = ("queued", "running")
ABANDONED = "the sync stopped before it finished (its process ended); the next sync converges"


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
    # a job still marked active holds no lease any more: its process died
    mark_abandoned(session, plan_row.id, now=now, lease=timedelta(0))
    return owner


def renew_lease(session: Session, plan_id: int, owner: str, *, hold: timedelta, now: datetime | None = None) -> bool:
    """The heartbeat: hold the lease `hold` longer. False when it is not ours any more."""
    now = now or utcnow()
    return session.exec(update(PlanRow).where(PlanRow.id == plan_id, PlanRow.sync_lease_owner == owner)
                        .values(sync_lease_until=now + hold)).rowcount == 1


def release_lease(session: Session, plan_id: int, owner: str, *, keep_until: datetime | None = None) -> None:
    """Give the lease back; with `keep_until`, only then (a push round's cool-down, see membership_push)."""
    values = ({"sync_lease_until": keep_until} if keep_until is not None
              else {"sync_lease_owner": None, "sync_lease_until": None})
    session.exec(update(PlanRow).where(PlanRow.id == plan_id, PlanRow.sync_lease_owner == owner).values(**values))


def mark_abandoned(session: Session, plan_id: int, *, now: datetime | None = None, lease: timedelta = LEASE) -> None:
    """Mark the plan's active jobs whose heartbeat is older than `lease` as abandoned."""
    now = now or utcnow()
    for job in session.exec(select(SyncRunRow).where(SyncRunRow.plan_id == plan_id, SyncRunRow.state.in_(ACTIVE))):
        beat = job.heartbeat_at or job.started_at
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=now.tzinfo)
        if now - beat >= lease:
            job.state, job.finished_at, job.error = "abandoned", now, ABANDONED
            session.add(job)


def start_run(session: Session, *, plan_row: PlanRow, actor: str, dry_run: bool,
              state: str = "running") -> SyncRunRow:
    run = SyncRunRow(plan_id=plan_row.id, plan_version=plan_row.version, actor=actor, dry_run=dry_run, state=state,
                     heartbeat_at=utcnow())
    session.add(run)
    session.flush()
    return run


def report_progress(session: Session, job_id: int, *, done: int, total: int) -> None:
    """Progress and heartbeat of a running job (a queued one is running from its first report), in one UPDATE."""
    session.exec(update(SyncRunRow).where(SyncRunRow.id == job_id, SyncRunRow.state.in_(ACTIVE))
                 .values(progress_done=done, progress_total=total, heartbeat_at=utcnow(), state="running"))


def finish_run(session: Session, run: SyncRunRow, *, state: str, writes: int, report: dict[str, Any],
               desired: dict[str, Any] | None = None, error: str | None = None, digest: str = "") -> SyncRunRow:
    run = session.merge(run)
    run.digest = digest
    run.state, run.writes, run.error, run.finished_at = state, writes, error, utcnow()
    run.counts = {**report.get("counts", {}), "writes": writes}
    run.changes = report.get("changes", [])
    if report.get("not_owned") or report.get("conflicts"):
        run.changes = run.changes + [{"kind": "note", "text": t} for t in
                                     report.get("conflicts", []) + [f"not owned, left alone: {n}" for n in
                                                                    report.get("not_owned", [])]]
    run.desired = desired or {}
    if state == "done":
        run.progress_done = run.progress_total = len(report.get("changes", []))
    session.add(run)
    return run


def previous_fingerprints(session: Session, plan_id: int) -> dict[str, Any] | None:
    """What the last completed sync left in Unleash, to tell hand edits (drift) from plan changes."""
    # one row and one column: without the LIMIT every completed sync's fingerprints were fetched and decoded on
    # each call (each sync, each push round), the cause of the soak's memory growth
    return session.exec(select(SyncRunRow.desired).where(SyncRunRow.plan_id == plan_id, SyncRunRow.state == "done",
                                                         SyncRunRow.dry_run == False)  # noqa: E712
                        .order_by(SyncRunRow.id.desc()).limit(1)).first()


def last_digest(session: Session, plan_id: int) -> str | None:
    """The digest of what the last completed sync left in Unleash (cheap: the fingerprints are not loaded)."""
    return session.exec(select(SyncRunRow.digest).where(SyncRunRow.plan_id == plan_id, SyncRunRow.state == "done",
                                                        SyncRunRow.dry_run == False)  # noqa: E712
                        .order_by(SyncRunRow.id.desc()).limit(1)).first()


def runs(session: Session, plan_id: int, limit: int = 20) -> list[SyncRunRow]:
    return list(session.exec(select(SyncRunRow).where(SyncRunRow.plan_id == plan_id)
                             .order_by(SyncRunRow.id.desc()).limit(limit)))


def job(session: Session, plan_id: int, job_id: int) -> SyncRunRow | None:
    found = session.get(SyncRunRow, job_id)
    return found if found is not None and found.plan_id == plan_id else None


def latest_job(session: Session, plan_id: int) -> SyncRunRow | None:
    """The plan's newest sync that wrote (or meant to write), not a dry run."""
    return session.exec(select(SyncRunRow).where(SyncRunRow.plan_id == plan_id, SyncRunRow.dry_run == False)  # noqa: E712
                        .order_by(SyncRunRow.id.desc()).limit(1)).first()


def has_synced(session: Session, plan_id: int) -> bool:
    """Whether a lead's sync of the plan has completed once (cheap: no fingerprints are loaded)."""
    return session.exec(select(SyncRunRow.id).where(SyncRunRow.plan_id == plan_id, SyncRunRow.state == "done",
                                                    SyncRunRow.dry_run == False).limit(1)).first() is not None  # noqa: E712
