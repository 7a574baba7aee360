"""Opt-in changes reach Unleash in seconds, coalesced: a background loop pushes each changed cohort's
segments (one write per changed segment, however many people joined meanwhile), adds a segment and its
strategies when a cohort needs one more (its first member too), and runs the full sync of the plan when
a cohort needs one less or an earlier round stopped half-way."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import timedelta
from dataclasses import dataclass

from sqlalchemy import and_
from sqlmodel import select

from flags.desired import desired_state, is_owned_name
from flags.limits import ResourceLimits
from flags.diff import segment_fingerprint
from flags.errors import UnleashError
from planner.db import session_scope
from planner.optin import effective_members, mark_pushed
from planner.store import read_plan_cached
from planner.syncruns import PUSH_LEASE, SyncBusy, acquire_lease, has_synced, release_lease
from planner.tables import CohortRow, PlanRow, utcnow
from web.services.sync import sync_plan

log = logging.getLogger(__name__)


@dataclass
class PushReport:
    plans: int = 0
    segment_writes: int = 0
    full_syncs: int = 0


def dirty_plans(database_url: str) -> list[str]:
    with session_scope(database_url) as session:
        rows = session.exec(select(PlanRow.key).join(CohortRow, CohortRow.plan_id == PlanRow.id)
                            .where(and_(CohortRow.membership_version > CohortRow.pushed_version,
                                        PlanRow.archived == False)).distinct()).all()  # noqa: E712
    return list(rows)


def push_plan(database_url: str, plan_key: str, admin, limits: ResourceLimits, report: PushReport, *,
              cooldown: float = 0.0) -> bool:
    """One plan's round, under the plan's sync lease: a lead's sync, or the pusher of another server
    process, never writes the same segments at the same time (they would both add a missing one).

    With `cooldown`, the round keeps the lease until that many seconds after it began. Pushers of several
    server processes then take turns instead of each pushing once per interval: opt-ins are coalesced
    as much as with one process (a lead's sync waits for that moment, see sync_plan).
    False when the plan was left for later: never synced yet, or another sync or push holds it."""
    began = utcnow()
    with session_scope(database_url, serial=True) as session:
        row = session.exec(select(PlanRow).where(PlanRow.key == plan_key)).one()
        plan = read_plan_cached(session, row)
        if not has_synced(session, row.id):
            return False  # never synced by a lead: memberships go along with the first sync
        try:
            lease = acquire_lease(session, row, hold=PUSH_LEASE, push_round=True)
        except SyncBusy:
            return False  # a sync is running (it takes the members along), or another process pushes
        members, versions = effective_members(session, plan)
        dirty = {c.key for c in session.exec(select(CohortRow).where(
            CohortRow.plan_id == row.id, CohortRow.membership_version > CohortRow.pushed_version))}
        plan_id = row.id
    pushed = False
    try:
        pushed = _push_segments(plan, members, dirty, admin, limits, report)
    finally:
        with session_scope(database_url, serial=True) as session:
            rest = began + timedelta(seconds=cooldown)
            keep = pushed and cooldown and rest > utcnow()
            release_lease(session, plan_id, lease, keep_until=rest if keep else None)
            if pushed:
                mark_pushed(session, versions)
    if pushed:
        return True
    # a segment less (or a half-done round): strategies go too, which the full, level-triggered sync does
    try:
        outcome = sync_plan(database_url=database_url, plan_key=plan_key, admin=admin, actor="opt-in")
    except SyncBusy:
        return False  # a lead's sync started meanwhile; it takes the members along
    report.full_syncs += 1
    if outcome.outcome != "ok":
        log.warning("opt-in changes of plan %s not pushed yet: %s", plan_key, outcome.error)
    return True


def _push_segments(plan, members: dict[str, list[str]], dirty: set[str], admin, limits: ResourceLimits,
                   report: PushReport) -> bool:
    """Write the dirty cohorts' segments (adding one, with its strategies, where a cohort needs one more).
    False, with nothing written, when only the full sync can do it."""
    desired = desired_state(plan, members=members, limits=limits)
    actual = {s["name"]: s for s in admin.list_segments() if is_owned_name(plan.key, s.get("name"))}
    wanted = {name: spec for name, spec in desired.segments.items() if name.split(":")[2] in dirty}
    have = {name for name in actual if name.split(":")[2] in dirty}
    uses = Counter(s.segment for s in desired.strategies.values() if s.segment)
    # a segment used by fewer flags than planned: an earlier round stopped half-way; the full sync mends it
    incomplete = any(actual[name].get("usedInFeatures", uses[name]) < uses[name] for name in have & set(wanted))
    added, removed = set(wanted) - have, have - set(wanted)
    if incomplete or removed:
        return False
    cohorts_with_segments = {name.split(":")[2] for name in have}
    for name in sorted(added):
        # one part more (or the first): its segment, and its strategy on each flag the cohort gets
        segment_id = admin.create_segment(wanted[name].body(desired.project))["id"]
        report.segment_writes += 1
        for strategy in desired.strategies.values():
            if strategy.segment == name:
                admin.add_strategy(desired.project, strategy.flag, desired.environment, strategy.body({name: segment_id}))
                if name.split(":")[2] not in cohorts_with_segments:
                    # the cohort's first strategy on a flag may be the flag's first: switch it on (after the
                    # strategy exists, or Unleash would add a 100 % default strategy of its own)
                    admin.set_environment_enabled(desired.project, strategy.flag, desired.environment, True)
    for name, spec in wanted.items():
        if name in added:
            continue
        body = spec.body(desired.project)
        if segment_fingerprint(actual[name]) != segment_fingerprint(body):
            admin.update_segment(actual[name]["id"], body)
            report.segment_writes += 1
    return True


class MembershipPusher:
    """The loop, run in a daemon thread beside the web app (started and stopped with its lifespan)."""

    def __init__(self, *, database_url: str, admin, interval: float = 1.0):
        self.database_url, self.admin, self.interval = database_url, admin, interval
        self.report = PushReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="membership-pusher", daemon=True)
        self._limits: tuple[float, ResourceLimits] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def limits(self) -> ResourceLimits:
        if self._limits is None or time.monotonic() - self._limits[0] > 300:
            self._limits = (time.monotonic(), self.admin.resource_limits())
        return self._limits[1]

    def push_once(self) -> None:
        for plan_key in dirty_plans(self.database_url):
            try:
                # 0.9: this process's next round (one interval on) must find the plan free again
                if push_plan(self.database_url, plan_key, self.admin, self.limits(), self.report,
                             cooldown=0.9 * self.interval):
                    self.report.plans += 1
            except UnleashError as exc:
                # nothing is lost: the cohort stays marked, the next round tries again
                log.warning("opt-in changes of plan %s not pushed yet: %s", plan_key, exc)

    def _run(self) -> None:
        started = time.monotonic()
        # rounds start every `interval` (not `interval` after the last one ended), so a slow round does not
        # add its own length to every opt-in's wait
        while not self._stop.wait(max(0.0, started + self.interval - time.monotonic())):
            started = time.monotonic()
            try:
                self.push_once()
            except Exception:  # noqa: BLE001 - the loop must survive anything one round meets
                log.exception("membership push round failed; trying again")
