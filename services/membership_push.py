"""Opt-in changes reach Unleash in seconds, coalesced: a background loop runs, for each plan with changed
opt-in cohorts, the reconciler scoped to those cohorts (flags.reconcile.prepare_scoped, then the same
execute() as a sync, in the same order). A join or leave is one write per changed segment, however many
people joined meanwhile; a cohort that needs a segment more or less gets its strategies with it."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from dataclasses import dataclass

from sqlalchemy import and_
from sqlmodel import select

from flags.errors import UnleashError
from flags.limits import ResourceLimits
from flags.reconcile import execute, prepare_scoped
from planner.db import session_scope
from planner.optin import effective_members, mark_pushed
from planner.phasecontrol import load_controls
from planner.store import read_plan_cached
from planner.errors import SyncBusy
from planner.syncruns import PUSH_LEASE, acquire_lease, has_synced, previous_fingerprints, release_lease
from planner.tables import CohortRow, PlanRow, utcnow
from services import telemetry
from services.loop import Loop

log = logging.getLogger(__name__)
WARN_EVERY = 60.0  # seconds between two log lines of the same failure


@dataclass
class PushReport:
    plans: int = 0
    segment_writes: int = 0
    other_writes: int = 0  # strategies and switches, where a cohort got a segment more or less


def dirty_plans(database_url: str) -> list[str]:
    with session_scope(database_url) as session:
        rows = session.exec(select(PlanRow.key).join(CohortRow, CohortRow.plan_id == PlanRow.id)
                            .where(and_(CohortRow.membership_version > CohortRow.pushed_version,
                                        PlanRow.archived == False)).distinct()).all()  # noqa: E712
    return list(rows)


def push_plan(database_url: str, plan_key: str, admin, limits: ResourceLimits, report: PushReport, *,
              cooldown: float = 0.0, lease: timedelta = PUSH_LEASE) -> bool:
    """One plan's round, under the plan's sync lease: a lead's sync, or the pusher of another server
    process, never writes the same segments at the same time (they would both add a missing one).

    With `cooldown`, the round keeps the lease until that many seconds after it began. Pushers of several
    server processes then take turns instead of each pushing once per interval: opt-ins are coalesced
    as much as with one process (a lead's sync waits for that moment, see services.sync).
    False when the plan was left for later: never synced yet, or another sync or push holds it."""
    began = utcnow()
    with session_scope(database_url, serial=True) as session:
        row = session.exec(select(PlanRow).where(PlanRow.key == plan_key)).one()
        plan = read_plan_cached(session, row)
        if not has_synced(session, row.id):
            return False  # never synced by a lead: memberships go along with the first sync
        try:
            owner = acquire_lease(session, row, hold=lease, push_round=True)
        except SyncBusy:
            return False  # a sync is running (it takes the members along), or another process pushes
        members, versions = effective_members(session, plan)
        dirty = {c.key for c in session.exec(select(CohortRow).where(
            CohortRow.plan_id == row.id, CohortRow.membership_version > CohortRow.pushed_version))}
        previous = previous_fingerprints(session, row.id)
        controls = load_controls(session, row.id)
        plan_id = row.id
    pushed = False
    try:
        sync = prepare_scoped(plan, admin=admin, members=members, cohorts=dirty, limits=limits, previous=previous,
                              controls=controls)
        execute(sync, admin=admin)
        segments = sum(c.kind == "segment" for c in sync.diff.changes)
        report.segment_writes += segments
        report.other_writes += len(sync.diff.changes) - segments
        telemetry.PUSH_PLANS.inc()
        telemetry.PUSH_SEGMENT_WRITES.inc(segments)
        telemetry.PUSH_OTHER_WRITES.inc(len(sync.diff.changes) - segments)
        pushed = True
    finally:
        with session_scope(database_url, serial=True) as session:
            rest = began + timedelta(seconds=cooldown)
            keep = pushed and cooldown and rest > utcnow()
            release_lease(session, plan_id, owner, keep_until=rest if keep else None)
            if pushed:
                mark_pushed(session, versions)
    return True


class MembershipPusher(Loop):
    """The loop, run in a daemon thread beside the web app (started and stopped with its lifespan)."""

    name = "membership-pusher"

    def __init__(self, *, database_url: str, admin, interval: float = 1.0, lease: timedelta = PUSH_LEASE):
        super().__init__(interval)
        self.database_url, self.admin, self.lease = database_url, admin, lease
        self.report = PushReport()
        self._limits: tuple[float, ResourceLimits] | None = None
        self._warned: dict[tuple[str, str], tuple[float, int]] = {}

    def step(self) -> None:
        self.push_once()

    def limits(self) -> ResourceLimits:
        if self._limits is None or time.monotonic() - self._limits[0] > 300:
            self._limits = (time.monotonic(), self.admin.resource_limits())
        return self._limits[1]

    def push_once(self) -> None:
        for plan_key in dirty_plans(self.database_url):
            try:
                # 0.9: this process's next round (one interval on) must find the plan free again
                if push_plan(self.database_url, plan_key, self.admin, self.limits(), self.report,
                             cooldown=0.9 * self.interval, lease=self.lease):
                    self.report.plans += 1
            except UnleashError as exc:
                # nothing is lost: the cohort stays marked, the next round tries again (each second: the
                # same failure is logged once a minute, with how often it happened meanwhile)
                self._warn(plan_key, str(exc))

    def _warn(self, plan_key: str, message: str) -> None:
        now = time.monotonic()
        last, repeats = self._warned.get((plan_key, message), (None, 0))
        if last is not None and now - last < WARN_EVERY:
            self._warned[(plan_key, message)] = (last, repeats + 1)
            return
        again = f" (and {repeats} times in the last minute)" if repeats else ""
        log.warning("opt-in changes of plan %s not pushed yet: %s%s", plan_key, message, again)
        # keep only failures seen within the minute: the messages of a long outage may all differ
        self._warned = {k: v for k, v in self._warned.items() if now - v[0] < WARN_EVERY}
        self._warned[(plan_key, message)] = (now, 0)
