"""The planner's Prometheus metrics: what each process counts, and what the database holds, read at scrape time.

Counters and histograms are counted where things happen (a sync, a controller round, a webhook post, a join).
Under `planner serve --workers N` each worker writes them to its own file in PROMETHEUS_MULTIPROC_DIR (set by
`planner serve`) and a scrape, answered by any worker, adds them up. Numbers that live in the database (members,
waitlists, changes not yet pushed, gate verdicts) are read from it at scrape time, so every worker gives the
same. Labels are plan, cohort and phase keys, outcomes and route templates: never a user id or a token.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func
from sqlmodel import select

from planner.db import session_scope
from planner.model import CohortKind
from planner.tables import CohortRow, MembershipRow, PhaseControlRow, PlanRow

log = logging.getLogger(__name__)

SYNC_RUNS = Counter("planner_sync_runs", "Syncs of a plan to Unleash, by kind (sync, dry_run) and outcome",
                    ["kind", "outcome"])
SYNC_WRITES = Counter("planner_sync_writes", "Admin API writes made by syncs")
SYNC_SECONDS = Histogram("planner_sync_duration_seconds", "How long a sync took, by kind", ["kind"],
                         buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
DRIFT_FOUND = Counter("planner_drift_found", "Hand edits of owned objects in Unleash the controller found", ["plan"])
CONTROLLER_ROUNDS = Counter("planner_controller_rounds", "Controller rounds run (by the leading process)")
LAST_ROUND = "planner_controller_last_round_timestamp_seconds"
CONTROLLER_LAST_ROUND = Gauge(LAST_ROUND,
                              "When the last controller round ended (Unix time)", multiprocess_mode="max")
WEBHOOK_DELIVERIES = Counter("planner_webhook_deliveries", "Webhook posts, by event and outcome (delivered, "
                             "retry: tried again later, failed: given up)", ["event", "outcome"])
OPT_INS = Counter("planner_opt_ins", "Opt-in joins answered, by outcome (member, waiting, unchanged, refused, "
                  "error)", ["outcome"])
OPT_IN_BATCHES = Counter("planner_opt_in_batches", "Transactions that wrote a batch of joins")
OPT_IN_RETRIED = Counter("planner_opt_in_retried", "Joins written one by one after their batch failed as a whole")
PUSH_PLANS = Counter("planner_push_plans", "Push rounds of a plan's opt-in changes to Unleash")
PUSH_SEGMENT_WRITES = Counter("planner_push_segment_writes", "Segment writes of push rounds")
PUSH_OTHER_WRITES = Counter("planner_push_other_writes", "Strategy and switch writes of push rounds (a cohort got a "
                            "segment more or less)")
LAG = "planner_controller_lag_seconds"


def multiprocess() -> bool:
    """Whether this process counts in files shared by all workers (PROMETHEUS_MULTIPROC_DIR was set at start)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def _counted():
    return MultiProcessCollector(None) if multiprocess() else REGISTRY


class _Counted:
    """What the processes counted, summed over all workers, and the controller's lag from its last round."""

    def collect(self) -> Iterator[Metric]:
        last = 0.0
        for metric in _counted().collect():
            if metric.name == LAST_ROUND:
                last = max([last, *(sample.value for sample in metric.samples)])
            yield metric
        if last > 0:
            yield GaugeMetricFamily(LAG, "Seconds since the last controller round ended", value=time.time() - last)


class _Stored:
    """Read from the database at each scrape: one answer whichever worker is asked."""

    def __init__(self, database_url: str):
        self.database_url = database_url

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("planner_database_up", "Whether the scrape could read the database")
        try:
            found = list(self._read())
        except Exception as exc:  # noqa: BLE001 - a scrape reports the database away, it does not fail
            log.warning("metrics: the database could not be read (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        yield from found
        up.add_metric([], 1)
        yield up

    def _read(self) -> Iterator[Metric]:
        members = GaugeMetricFamily("planner_opt_in_members", "Members of each opt-in cohort", labels=["plan", "cohort"])
        waiting = GaugeMetricFamily("planner_opt_in_waitlist", "Users waiting for a seat in each opt-in cohort",
                                    labels=["plan", "cohort"])
        pending = GaugeMetricFamily("planner_membership_changes_pending", "Membership changes of each opt-in cohort "
                                    "not yet pushed to Unleash", labels=["plan", "cohort"])
        verdicts = GaugeMetricFamily("planner_gate_verdict", "Each gated phase's verdict as last judged (1 for the "
                                     "verdict it has)", labels=["plan", "phase", "verdict"])
        live = PlanRow.archived == False  # noqa: E712
        with session_scope(self.database_url) as session:
            cohorts = session.exec(select(PlanRow.key, CohortRow.key, CohortRow.membership_version - CohortRow.pushed_version)
                                   .join(PlanRow, CohortRow.plan_id == PlanRow.id)
                                   .where(live, CohortRow.kind == CohortKind.opt_in.value)).all()
            counts = session.exec(select(PlanRow.key, CohortRow.key, MembershipRow.status, func.count())
                                  .join(CohortRow, MembershipRow.cohort_id == CohortRow.id)
                                  .join(PlanRow, CohortRow.plan_id == PlanRow.id)
                                  .where(live).group_by(PlanRow.key, CohortRow.key, MembershipRow.status)).all()
            gates = session.exec(select(PlanRow.key, PhaseControlRow.phase_key, PhaseControlRow.verdict)
                                 .join(PlanRow, PhaseControlRow.plan_id == PlanRow.id)
                                 .where(live, PhaseControlRow.verdict != "")).all()
        by_status: dict[tuple[str, str, str], int] = defaultdict(int)
        for plan, cohort, status, count in counts:
            by_status[(plan, cohort, status)] += count
        for plan, cohort, behind in cohorts:
            members.add_metric([plan, cohort], by_status[(plan, cohort, "member")])
            waiting.add_metric([plan, cohort], by_status[(plan, cohort, "waiting")])
            pending.add_metric([plan, cohort], max(0, behind or 0))
        for plan, phase, verdict in gates:
            verdicts.add_metric([plan, phase, verdict], 1)
        yield from (members, waiting, pending, verdicts)


def scrape(*, database_url: str) -> bytes:
    """The Prometheus text format of everything above."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Counted())
    registry.register(_Stored(database_url))
    return generate_latest(registry)


def totals() -> dict[str, int]:
    """Each counted sample (e.g. `planner_opt_ins_total`) summed over its labels and every worker: for /health."""
    sums: dict[str, float] = defaultdict(float)
    for metric in _counted().collect():
        for sample in metric.samples:
            sums[sample.name] += sample.value
    return defaultdict(int, {name: int(value) for name, value in sums.items()})
