"""Sync a stored plan to Unleash as a job: lease, read, diff, apply with progress and heartbeat, record.

A sync started from the browser, the CLI or the API is a job row (planner/syncruns.py) written as it runs,
so any process or worker can show it. The panel's dry run is computed without being recorded; dry runs a
lead asks for (CLI `--dry-run`, API) go in the history.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flags.desired import DesiredStateError
from flags.diff import digest, fingerprints
from flags.errors import UnleashError, UnleashUnavailable
from flags.reconcile import Progress, SyncPlan, execute, prepare
from planner import audit, webhooks
from planner.db import session_scope
from planner.errors import JobNotFound, SyncBusy
from planner.model import CohortKind
from planner.optin import effective_members, mark_pushed
from planner.phasecontrol import load_controls
from planner.store import live_plan
from planner.syncruns import (ACTIVE, LEASE, acquire_lease, finish_run, job, latest_job, mark_abandoned,
                              previous_fingerprints, release_lease, renew_lease, report_progress, runs, start_run)
from planner.tables import SyncRunRow
from services import telemetry

log = logging.getLogger(__name__)
PUSH_WAIT_SECONDS = 10.0  # how long a sync waits for an opt-in push round to give the plan back
PROGRESS_EVERY = 0.5  # seconds between progress writes of a running job


@dataclass(frozen=True)
class LeaseTiming:
    """How long a sync's lease lasts unless renewed, and how often the running sync renews it."""

    hold: timedelta = LEASE
    heartbeat: float = 5.0

    @classmethod
    def of(cls, settings) -> LeaseTiming:
        """As PLANNER_SYNC_LEASE_SECONDS and PLANNER_SYNC_HEARTBEAT_SECONDS say."""
        return cls(hold=timedelta(seconds=settings.sync_lease_seconds), heartbeat=settings.sync_heartbeat_seconds)


@dataclass
class SyncOutcome:
    plan: str
    run_id: int | None
    dry_run: bool
    outcome: str  # ok | failed
    writes: int
    report: dict[str, Any]
    error: str | None = None
    retryable: bool = False  # Unleash was unreachable: the same sync later converges

    def as_json(self) -> dict[str, Any]:
        counts = self.report.get("counts", {})
        return {"plan": self.plan, "run": self.run_id, "dry_run": self.dry_run, "outcome": self.outcome,
                "created": counts.get("created", 0), "updated": counts.get("updated", 0),
                "deleted": counts.get("deleted", 0), "unchanged": counts.get("unchanged", 0),
                "drift": counts.get("drift", 0), "writes": self.writes, "items": self.report.get("changes", []),
                "not_owned": self.report.get("not_owned", []), "conflicts": self.report.get("conflicts", []),
                "error": self.error}


@dataclass
class _Begun:
    plan: Any
    plan_id: int
    members: dict[str, list[str]]
    member_versions: Any
    previous: dict[str, Any] | None
    lease: str | None
    run: SyncRunRow | None
    controls: Any = None


def _begin(database_url: str, plan_key: str, actor: str, *, dry_run: bool, record: bool, state: str,
           timing: LeaseTiming) -> _Begun:
    """Read the plan and its members, take the lease and record the job: one transaction. A push round
    that holds the plan is over in a moment, so that one is waited for; a sync is not."""
    deadline = time.monotonic() + PUSH_WAIT_SECONDS
    while True:
        try:
            with session_scope(database_url, serial=True) as session:
                row, plan = live_plan(session, plan_key)
                members, member_versions = effective_members(session, plan)
                previous = previous_fingerprints(session, row.id)
                lease = None if dry_run else acquire_lease(session, row, hold=timing.hold)
                run = start_run(session, plan_row=row, actor=actor, dry_run=dry_run, state=state) if record else None
                return _Begun(plan, row.id, members, member_versions, previous, lease, run, load_controls(session, row.id))
        except SyncBusy as busy:
            if not busy.push_round or time.monotonic() > deadline:
                raise
        time.sleep(0.1)  # outside the transaction: joins go on meanwhile


@dataclass
class _Reporter:
    """Writes a running job's progress every half second and renews its lease on each heartbeat."""

    database_url: str
    begun: _Begun
    timing: LeaseTiming
    done: int = 0
    total: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sync-job-{self.begun.plan.key}", daemon=True)

    def progress(self, done: int, total: int, _change) -> None:
        self.done, self.total = done, total

    def __enter__(self) -> _Reporter:
        if self.begun.run is not None or self.begun.lease:  # an unrecorded dry run has nothing to report
            self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        last_beat, written = time.monotonic(), (-1, -1)
        while not self._stop.wait(PROGRESS_EVERY):
            try:
                beat = time.monotonic() - last_beat >= self.timing.heartbeat
                with session_scope(self.database_url, serial=True) as session:
                    if beat and self.begun.lease:
                        last_beat = time.monotonic()
                        if not renew_lease(session, self.begun.plan_id, self.begun.lease, hold=self.timing.hold):
                            log.warning("sync of plan %s lost its lease", self.begun.plan.key)
                    if self.begun.run is not None and (beat or (self.done, self.total) != written):
                        report_progress(session, self.begun.run.id, done=self.done, total=self.total)
                        written = (self.done, self.total)
            except Exception:  # noqa: BLE001 - a missed heartbeat is retried; the sync goes on
                log.warning("progress of the sync of plan %s not written", self.begun.plan.key, exc_info=True)


def _run(database_url: str, begun: _Begun, *, admin, actor: str, dry_run: bool, timing: LeaseTiming,
         on_progress: Progress | None) -> SyncOutcome:
    plan_key, plan_id, run = begun.plan.key, begun.plan_id, begun.run
    started = time.perf_counter()
    run_id = run.id if run is not None else None
    sync: SyncPlan | None = None
    admin = admin.counting()  # this run's writes, whoever else uses the client meanwhile
    reporter = _Reporter(database_url, begun, timing)

    def progress(done: int, total: int, change) -> None:
        reporter.progress(done, total, change)
        if on_progress:
            on_progress(done, total, change)

    try:
        with reporter:
            sync = prepare(begun.plan, admin=admin, members=begun.members, previous=begun.previous,
                           controls=begun.controls)
            reporter.total = len(sync.diff.changes)
            if not dry_run:
                execute(sync, admin=admin, on_progress=progress)
    except (UnleashError, DesiredStateError) as exc:
        report = sync.report() if sync else {}
        with session_scope(database_url, serial=True) as session:
            if run is not None:
                finish_run(session, run, state="failed", writes=admin.writes, report=report, error=str(exc))
            if not dry_run:
                audit.record(session, action="plan.sync.failed", actor=actor, plan_id=plan_id,
                             summary=f"sync failed after {admin.writes} writes: {exc}", detail={"run": run_id})
                webhooks.enqueue(session, plan_id=plan_id, plan_key=plan_key, event="sync.failed",
                                 data={"run": run_id, "by": actor, "writes": admin.writes, "error": str(exc)})
            if begun.lease:
                release_lease(session, plan_id, begun.lease)
        _told(plan_key, dry_run=dry_run, outcome="failed", writes=admin.writes, started=started, report=report,
              error=str(exc))
        return SyncOutcome(plan_key, run_id, dry_run, "failed", admin.writes, report, error=str(exc),
                           retryable=isinstance(exc, UnleashUnavailable))
    except BaseException:
        with session_scope(database_url, serial=True) as session:
            if run is not None:
                finish_run(session, run, state="failed", writes=admin.writes, report=sync.report() if sync else {},
                           error="the sync stopped on an internal error; see the planner's log")
            if begun.lease:
                release_lease(session, plan_id, begun.lease)
        _told(plan_key, dry_run=dry_run, outcome="error", writes=admin.writes, started=started,
              report=sync.report() if sync else {}, error="internal error")
        raise
    report = sync.report()
    with session_scope(database_url, serial=True) as session:
        if run is not None:
            desired = None if dry_run else fingerprints(sync.desired)
            finish_run(session, run, state="done", writes=admin.writes, report=report, desired=desired,
                       digest=desired_digest(begun.plan, desired) if desired else "")
        if not dry_run:
            counts = report["counts"]
            audit.record(session, action="plan.sync", actor=actor, plan_id=plan_id,
                         summary=(f"synced: {counts['created']} created, {counts['updated']} updated, "
                                  f"{counts['deleted']} deleted, {admin.writes} writes"),
                         detail={"run": run_id, "counts": counts})
            release_lease(session, plan_id, begun.lease)
            mark_pushed(session, begun.member_versions)
    _told(plan_key, dry_run=dry_run, outcome="ok", writes=admin.writes, started=started, report=report)
    return SyncOutcome(plan_key, run_id, dry_run, "ok", admin.writes, report)


def _told(plan_key: str, *, dry_run: bool, outcome: str, writes: int, started: float, report: dict[str, Any],
          error: str | None = None) -> None:
    """A finished sync's metrics and its one log line (a dry run's at DEBUG: the panel and the controller make
    them all the time)."""
    kind, seconds = ("dry_run" if dry_run else "sync"), time.perf_counter() - started
    telemetry.SYNC_RUNS.labels(kind, outcome).inc()
    telemetry.SYNC_WRITES.inc(writes)
    telemetry.SYNC_SECONDS.labels(kind).observe(seconds)
    counts = {name: report.get("counts", {}).get(name, 0) for name in ("created", "updated", "deleted", "unchanged", "drift")}
    level = logging.DEBUG if dry_run else logging.INFO if outcome == "ok" else logging.WARNING
    log.log(level, "%s of plan %s %s: %d created, %d updated, %d deleted, %d writes in %.2f s%s",
            kind.replace("_", " "), plan_key, outcome, counts["created"], counts["updated"], counts["deleted"], writes,
            seconds, f": {error}" if error else "",
            extra={"plan": plan_key, "kind": kind, "outcome": outcome, "writes": writes,
                   "duration_s": round(seconds, 3), "counts": counts})


def desired_digest(plan, fps: dict[str, Any]) -> str:
    """The digest the controller compares (flags.diff.digest): the plan's state without opt-in members."""
    return digest(fps, plan=plan.key, skip_cohorts={c.key for c in plan.cohorts if c.kind is CohortKind.opt_in})


def sync_plan(*, database_url: str, plan_key: str, admin, actor: str, dry_run: bool = False, record: bool = True,
              on_progress: Progress | None = None, timing: LeaseTiming = LeaseTiming()) -> SyncOutcome:
    """Run a sync (or a dry run) here and now, recorded as a job unless `record` is False (the panel's
    dry run). Raises PlanNotFound, SyncBusy; an Unleash failure is a failed job, not an exception."""
    begun = _begin(database_url, plan_key, actor, dry_run=dry_run, record=record, state="running", timing=timing)
    return _run(database_url, begun, admin=admin, actor=actor, dry_run=dry_run, timing=timing,
                on_progress=on_progress)


def start_sync_job(*, database_url: str, plan_key: str, admin, actor: str,
                   timing: LeaseTiming = LeaseTiming()) -> int:
    """Queue a sync and run it in a thread of this process; returns the job's id at once. The lease is
    taken before this returns, so a second Apply is refused (SyncBusy) instead of queueing behind."""
    begun = _begin(database_url, plan_key, actor, dry_run=False, record=True, state="queued", timing=timing)

    def work() -> None:
        try:
            _run(database_url, begun, admin=admin, actor=actor, dry_run=False, timing=timing, on_progress=None)
        except Exception:  # noqa: BLE001 - recorded as failed in the job row; logged for the operators
            log.exception("sync job %s of plan %s failed", begun.run.id, plan_key)

    # the job's Unleash calls and log lines carry the id of the request that started it
    threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"sync-{plan_key}", daemon=True).start()
    return begun.run.id


@dataclass
class SyncPanel:
    """What the sync panel shows: the latest job (running or finished), a fresh dry run, the history."""

    plan: Any
    job: SyncRunRow | None
    runs: list[SyncRunRow]
    dry: dict[str, Any] | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.state in ACTIVE


def sync_history(*, database_url: str, key: str, timing: LeaseTiming = LeaseTiming(),
                 job_id: int | None = None) -> SyncPanel:
    """The plan, its latest job (or job `job_id`: JobNotFound) and its history. Jobs whose process died are
    marked abandoned here, once their lease has run out, so every process shows the same."""
    with session_scope(database_url, serial=True) as session:
        row, plan = live_plan(session, key)
        mark_abandoned(session, row.id, lease=timing.hold)
        current = job(session, row.id, job_id) if job_id is not None else latest_job(session, row.id)
        if job_id is not None and current is None:
            raise JobNotFound(key, job_id)
        return SyncPanel(plan, current, runs(session, row.id))


def sync_panel(*, database_url: str, key: str, admin, timing: LeaseTiming = LeaseTiming(),
               job_id: int | None = None) -> SyncPanel:
    """The panel: the history with the latest job (or job `job_id`) and, unless that job is running, what
    Apply would change now, computed without being recorded. Unleash being unreachable is shown, not raised."""
    panel = sync_history(database_url=database_url, key=key, timing=timing, job_id=job_id)
    if panel.running:
        return panel
    dry = sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="panel", dry_run=True, record=False)
    if dry.outcome == "ok":
        panel.dry = dry.as_json()
    else:  # Unleash unreachable, or the plan does not fit its limits: said, never "already matches"
        panel.error = dry.error
    return panel
