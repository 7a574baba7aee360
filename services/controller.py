"""The controller: keeps Unleash on the plan without anyone pressing Apply.

One leader among all processes and workers runs the rounds (a lease in the database, planner/leader.py);
`planner tick` runs one round from cron. Each round, for every plan:
- syncs it when its desired state differs from what the last sync wrote (an edit, a lead's action, a new
  phase, a cohort's part more or less) — compared by a digest, without reading Unleash;
- every `drift_every` seconds, reads Unleash and restores any hand edit of an owned object (drift),
  reporting it in the audit log and on the plan page;
- under `sync: review`, writes nothing: it counts the changes waiting for a lead's Apply;
- records each phase's status change (scheduled → active → completed …) in the audit log, once;
- copies the served counts of unleash KPIs from Unleash's metrics, and judges the gates (services/gates.py):
  a gate that passed opens its phase in the same round.

A round killed halfway leaves nothing the next round does not converge: a sync is level-triggered, a
status change is a compare-and-set, and two controllers cannot both lead.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from flags.desired import DesiredStateError, desired_state
from flags.diff import fingerprints
from flags.errors import UnleashError
from flags.limits import ResourceLimits
from planner import audit, webhooks
from planner.db import session_scope
from planner.errors import SyncBusy
from planner.leader import lead, leader, step_down
from planner.lifecycle import statuses
from planner.model import SyncMode
from planner.optin import effective_members
from planner.phasecontrol import load_controls
from planner.store import live_plan
from planner.syncruns import last_digest, previous_fingerprints
from planner.tables import PlanRow, utcnow
from services.phases import record_transitions, written_phases
from services import gates, kpis, telemetry
from services.loop import Loop
from services.sync import LeaseTiming, desired_digest, sync_plan

log = logging.getLogger(__name__)
LEASE = "controller"
ACTOR = "controller"


@dataclass
class PlanRound:
    plan: str
    state: str = "in_sync"  # in_sync | pending | drift | error | busy
    synced: bool = False
    writes: int = 0
    pending: int = 0
    drift: int = 0
    transitions: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)  # gate verdicts that changed, gates opened
    error: str | None = None


@dataclass
class RoundReport:
    led: bool
    leader: str | None = None
    plans: list[PlanRound] = field(default_factory=list)


class Controller(Loop):
    name = "controller"
    stop_timeout = 30.0

    def __init__(self, *, database_url: str, admin, interval: float = 5.0, drift_every: float = 60.0,
                 timing: LeaseTiming = LeaseTiming(), owner: str | None = None, metrics_every: float = 60.0):
        super().__init__(interval)
        self.metrics_every = metrics_every
        self._metrics_copied: dict[str, float] = {}
        self.database_url, self.admin = database_url, admin
        self.drift_every, self.timing = drift_every, timing
        self.owner = owner or uuid.uuid4().hex
        self.rounds = 0
        self._drift_checked: dict[str, float] = {}
        self._reviewed: dict[str, str] = {}  # under review: the desired digest whose waiting changes were counted
        self._failures: dict[str, int] = {}  # failed rounds in a row, per plan
        self._retry_at: dict[str, float] = {}
        self._limits: tuple[float, ResourceLimits] | None = None

    def step(self) -> RoundReport:
        return self.round()

    def stop(self) -> None:
        super().stop()
        try:
            with session_scope(self.database_url, serial=True) as session:
                step_down(session, LEASE, self.owner)
        except Exception:  # noqa: BLE001 - the lease runs out by itself
            log.warning("controller could not give up its lease", exc_info=True)

    # -- one round -----------------------------------------------------------------------------------------

    def lease_hold(self) -> timedelta:
        """Long enough for a round with a large sync in it; a killed leader's lease lapses after it."""
        return timedelta(seconds=max(3 * self.interval, self.timing.hold.total_seconds()))

    def round(self, *, now: datetime | None = None) -> RoundReport:
        with session_scope(self.database_url, serial=True) as session:
            if not lead(session, LEASE, self.owner, hold=self.lease_hold()):
                return RoundReport(False, leader(session, LEASE))
            keys = list(session.exec(select(PlanRow.key).where(PlanRow.archived == False)  # noqa: E712
                                     .order_by(PlanRow.key)))
        report, started = RoundReport(True, self.owner), time.perf_counter()
        for key in keys:
            try:
                report.plans.append(self.control_plan(key, now=now))
            except Exception as exc:  # noqa: BLE001 - one plan's trouble must not stop the others
                log.exception("controller round of plan %s failed", key)
                report.plans.append(PlanRound(key, "error", error=f"internal error: {type(exc).__name__}"))
            with session_scope(self.database_url, serial=True) as session:  # a long round keeps the lead
                lead(session, LEASE, self.owner, hold=self.lease_hold())
        self.rounds += 1
        telemetry.CONTROLLER_ROUNDS.inc()
        telemetry.CONTROLLER_LAST_ROUND.set(time.time())
        _told(report, time.perf_counter() - started)
        return report

    def limits(self) -> ResourceLimits:
        if self._limits is None or time.monotonic() - self._limits[0] > 300:
            self._limits = (time.monotonic(), self.admin.resource_limits())
        return self._limits[1]

    def control_plan(self, key: str, *, now: datetime | None = None) -> PlanRound:
        now = now or datetime.now(UTC)
        result = PlanRound(key)
        self._measure(key, result, now=now)
        with session_scope(self.database_url) as session:
            row, plan = live_plan(session, key)
            plan_id, controls = row.id, load_controls(session, row.id)
            members = effective_members(session, plan)[0]
            last = last_digest(session, row.id)
        try:
            desired = desired_state(plan, members=members, limits=self.limits(), controls=controls)
        except DesiredStateError as exc:
            result.state, result.error = "error", str(exc)
            self._record(plan_id, result, plan.sync)
            return result
        except UnleashError as exc:
            result.state, result.error = "error", f"Unleash: {exc}"
            self._record(plan_id, result, plan.sync)
            return result
        wanted = desired_digest(plan, fingerprints(desired))
        changed = wanted != last
        drift_due = time.monotonic() - self._drift_checked.get(key, float("-inf")) >= self.drift_every
        counted = plan.sync is SyncMode.review and self._reviewed.get(key) == wanted  # waiting, counted already
        pausing = self._retry_at.get(key, 0.0) > time.monotonic()  # after a failure: a growing pause
        looked = not pausing and (drift_due or (changed and not counted))
        if looked:
            self._reconcile(plan, result, changed=changed)
            self._note_failure(key, result.state == "error")
            if result.state != "busy":
                self._drift_checked[key] = time.monotonic()
            if plan.sync is SyncMode.review and result.state in ("pending", "in_sync", "drift"):
                self._reviewed[key] = wanted
        self._transitions(plan_id, plan, controls, result, now=now, all_written=not changed or result.synced)
        # unlooked: the same changes still wait (counted already), or a failed plan pauses; unchanged: in sync
        if result.state != "busy" and (looked or (not changed and not pausing)):
            self._record(plan_id, result, plan.sync, looked=looked)
        return result

    def _measure(self, key: str, result: PlanRound, *, now: datetime) -> None:
        """Copy the served counts of the plan's unleash KPIs (every `metrics_every` seconds), then judge its
        gates; a gate that passed opens its phase, which this same round writes to Unleash."""
        if time.monotonic() - self._metrics_copied.get(key, float("-inf")) >= self.metrics_every:
            self._metrics_copied[key] = time.monotonic()  # an Unleash that is down is asked again next time only
            try:
                kpis.copy_served(database_url=self.database_url, admin=self.admin, key=key)
            except UnleashError as exc:  # the gates judge what was copied so far
                log.warning("controller could not copy the served counts of plan %s: %s", key, exc)
        result.gates = gates.check(database_url=self.database_url, key=key, now=now)

    def _note_failure(self, key: str, failed: bool) -> None:
        """A plan whose sync failed is tried again after 10 s, 20 s … at most 5 minutes, not every round: an
        Unleash that is down is not asked (and the failure not logged and told) every few seconds."""
        if not failed:
            self._failures.pop(key, None)
            self._retry_at.pop(key, None)
            return
        self._failures[key] = self._failures.get(key, 0) + 1
        self._retry_at[key] = time.monotonic() + min(10.0 * 2 ** (self._failures[key] - 1), 300.0)

    def _reconcile(self, plan, result: PlanRound, *, changed: bool) -> None:
        """Sync (auto) or count what waits (review), reading Unleash: drift shows in the diff."""
        try:
            if plan.sync is SyncMode.review or not changed:  # look first: a sync without changes is not recorded
                dry = sync_plan(database_url=self.database_url, plan_key=plan.key, admin=self.admin, actor=ACTOR,
                                dry_run=True, record=False, timing=self.timing)
                if dry.outcome != "ok":
                    result.state, result.error = "error", dry.error
                    return
                result.drift = dry.report["counts"].get("drift", 0)
                waiting = len(dry.report["changes"])
                if plan.sync is SyncMode.review:
                    result.pending = waiting
                    result.state = "drift" if result.drift else ("pending" if waiting else "in_sync")
                    return
                if not waiting:
                    return
            outcome = sync_plan(database_url=self.database_url, plan_key=plan.key, admin=self.admin, actor=ACTOR,
                                timing=self.timing)
        except SyncBusy:
            result.state = "busy"  # a lead's sync or a push round runs: the next round looks again
            return
        result.synced, result.writes = outcome.outcome == "ok", outcome.writes
        if outcome.outcome != "ok":
            result.state, result.error = "error", outcome.error
            return
        result.drift = outcome.report["counts"].get("drift", 0)
        result.state = "drift" if result.drift else "in_sync"

    def _transitions(self, plan_id: int, plan, controls, result: PlanRound, *, now: datetime, all_written: bool) -> None:
        with session_scope(self.database_url, serial=True) as session:
            written = ({p.key for p in plan.phases} if all_written
                       else written_phases(previous_fingerprints(session, plan_id), plan))
            moved = record_transitions(session, plan_id, plan, statuses(plan, controls, at=now, written=written),
                                       actor=ACTOR)
        result.transitions = [f"{key}: {old.value if old else 'new'} → {new.value}" for key, old, new in moved]

    def _record(self, plan_id: int, result: PlanRound, mode: SyncMode, *, looked: bool = True) -> None:
        """What the plan page shows: in sync, pending (review), drift found (and restored, in auto), or the error.
        Drift found stays shown until the next look at Unleash."""
        detail = {"in_sync": "", "pending": f"{result.pending} change(s) not yet in Unleash",
                  "drift": (f"{result.drift} hand edit(s) in Unleash " +
                            ("restored" if mode is SyncMode.auto and result.synced else "found; review and apply")),
                  "error": result.error or ""}[result.state]
        with session_scope(self.database_url, serial=True) as session:
            row = session.get(PlanRow, plan_id)
            if row is None or (not looked and row.sync_state == "drift"):
                return
            same = row.sync_state == result.state and row.sync_state_detail == detail
            if result.drift and (result.synced or not same):  # restored each time, or newly found (review)
                audit.record(session, action="plan.drift", actor=ACTOR, plan_id=plan_id, summary=detail,
                             detail={"drift": result.drift, "restored": result.synced})
                webhooks.enqueue(session, plan_id=plan_id, plan_key=row.key, event="drift.found",
                                 data={"changes": result.drift, "restored": result.synced})
                telemetry.DRIFT_FOUND.labels(row.key).inc(result.drift)
            if same:
                return  # nothing new: no write every round (the time is when this state began)
            row.sync_state, row.sync_state_detail, row.pending_changes = result.state, detail, result.pending
            row.sync_state_at = utcnow()
            session.add(row)


def _told(report: RoundReport, seconds: float) -> None:
    """A round's one log line, with its counts."""
    counts = {state: sum(p.state == state for p in report.plans) for state in ("in_sync", "pending", "drift", "error", "busy")}
    counts.update(plans=len(report.plans), synced=sum(p.synced for p in report.plans),
                  writes=sum(p.writes for p in report.plans), transitions=sum(len(p.transitions) for p in report.plans),
                  gates=sum(len(p.gates) for p in report.plans))
    log.log(logging.WARNING if counts["error"] else logging.INFO,
            "controller round: %(plans)d plan(s), %(synced)d synced, %(writes)d writes, %(drift)d with drift, "
            "%(error)d failed, %(transitions)d status change(s)", counts,
            extra={"counts": counts, "duration_s": round(seconds, 3)})
