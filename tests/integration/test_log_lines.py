"""On the real Unleash: a controller round that syncs a plan writes one log line for the sync and one for the
round, each with its counts, and counts both for /metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from prometheus_client import REGISTRY

from services.controller import Controller
from tests.integration.test_controller import apply, plan_text
from tests.integration.unleash import unique

pytestmark = pytest.mark.integration


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_round_that_syncs_logs_one_line_for_the_sync_and_one_for_the_round(database_url, admin, caplog):
    key, prefix = unique("ctl-"), unique("lg") + "-"
    now = datetime.now(UTC)
    apply(database_url, plan_text(key, prefix, starts=[now - timedelta(hours=1), now + timedelta(days=3)]))
    synced_before, rounds_before = counted("planner_sync_runs_total", kind="sync", outcome="ok"), counted(
        "planner_controller_rounds_total")
    with caplog.at_level(logging.INFO):
        report = Controller(database_url=database_url, admin=admin, drift_every=300).round()
    [plan] = report.plans
    assert plan.synced and plan.writes > 0

    [sync] = [r for r in caplog.records if r.name == "services.sync" and r.levelno >= logging.INFO]
    assert (sync.plan, sync.kind, sync.outcome, sync.writes) == (key, "sync", "ok", plan.writes)
    assert sync.counts["created"] > 0 and sync.duration_s > 0
    assert sync.getMessage().startswith(f"sync of plan {key} ok: ")
    [line] = [r for r in caplog.records if r.name == "services.controller"]
    assert line.counts["plans"] == 1 and line.counts["synced"] == 1 and line.counts["writes"] == plan.writes
    assert line.getMessage().startswith(f"controller round: 1 plan(s), 1 synced, {plan.writes} writes")

    assert counted("planner_sync_runs_total", kind="sync", outcome="ok") == synced_before + 1
    assert counted("planner_controller_rounds_total") == rounds_before + 1
    assert counted("planner_controller_last_round_timestamp_seconds") > now.timestamp()
