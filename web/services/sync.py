"""Sync a stored plan to Unleash: lease, read, diff, apply, and record the run and the audit entry."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flags.diff import fingerprints
from flags.errors import UnleashError, UnleashUnavailable
from flags.reconcile import Progress, SyncPlan, execute, prepare
from planner import audit
from planner.db import session_scope
from planner.optin import effective_members, mark_pushed
from planner.store import plan_row, read_plan
from planner.syncruns import SyncBusy, acquire_lease, finish_run, previous_fingerprints, release_lease, start_run


class PlanNotFound(LookupError):
    pass


@dataclass
class SyncOutcome:
    plan: str
    run_id: int
    dry_run: bool
    outcome: str
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


PUSH_WAIT_SECONDS = 10.0  # how long a sync waits for an opt-in push round to give the plan back


def _begin(database_url: str, plan_key: str, actor: str, dry_run: bool):
    """Read the plan and its members, take the lease and record the run: one transaction. A push round
    that holds the plan is over in a moment, so that one is waited for; a sync is not."""
    deadline = time.monotonic() + PUSH_WAIT_SECONDS
    while True:
        try:
            with session_scope(database_url, serial=True) as session:
                row = plan_row(session, plan_key)
                if row is None:
                    raise PlanNotFound(f"no plan '{plan_key}'")
                plan = read_plan(session, row)
                members, member_versions = effective_members(session, plan)
                previous = previous_fingerprints(session, row.id)
                lease = None if dry_run else acquire_lease(session, row)
                run = start_run(session, plan_row=row, actor=actor, dry_run=dry_run)
                return plan, members, member_versions, previous, lease, run, row.id
        except SyncBusy as busy:
            if not busy.push_round or time.monotonic() > deadline:
                raise
        time.sleep(0.1)  # outside the transaction: joins go on meanwhile


def sync_plan(*, database_url: str, plan_key: str, admin, actor: str, dry_run: bool = False,
              on_progress: Progress | None = None) -> SyncOutcome:
    plan, members, member_versions, previous, lease, run, plan_id = _begin(database_url, plan_key, actor, dry_run)
    sync: SyncPlan | None = None
    writes_before = admin.writes
    try:
        sync = prepare(plan, admin=admin, members=members, previous=previous)
        writes = 0 if dry_run else execute(sync, admin=admin, on_progress=on_progress)
    except (UnleashError, ValueError) as exc:
        writes = admin.writes - writes_before
        report = sync.report() if sync else {}
        with session_scope(database_url, serial=True) as session:
            finish_run(session, run, outcome="failed", writes=writes, report=report, error=str(exc))
            audit.record(session, action="plan.sync.failed", actor=actor, plan_id=plan_id,
                         summary=f"sync failed after {writes} writes: {exc}", detail={"run": run.id})
            if lease:
                release_lease(session, plan_id, lease)
        return SyncOutcome(plan_key, run.id, dry_run, "failed", writes, report, error=str(exc),
                           retryable=isinstance(exc, UnleashUnavailable))
    except BaseException:
        with session_scope(database_url, serial=True) as session:
            if lease:
                release_lease(session, plan_id, lease)
        raise
    report = sync.report()
    with session_scope(database_url, serial=True) as session:
        finish_run(session, run, outcome="ok", writes=writes, report=report,
                   desired=None if dry_run else fingerprints(sync.desired))
        if not dry_run:
            counts = report["counts"]
            audit.record(session, action="plan.sync", actor=actor, plan_id=plan_id,
                         summary=(f"synced: {counts['created']} created, {counts['updated']} updated, "
                                  f"{counts['deleted']} deleted, {writes} writes"),
                         detail={"run": run.id, "counts": counts})
            release_lease(session, plan_id, lease)
            mark_pushed(session, member_versions)
    return SyncOutcome(plan_key, run.id, dry_run, "ok", writes, report)
