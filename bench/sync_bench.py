"""Sync benchmark against the real Unleash (`make unleash`): 200 features x 10 cohorts, one a 5,000-user list.

Measures the first sync, a no-op re-sync, a one-phase move, and a lead's hold, resume, start now and roll back
(time and Admin API writes), and archives the benchmark's flags and segments afterwards. Run: `make bench` (or with the UNLEASH_* and
a PLANNER_DATABASE_URL in the environment: `.venv/bin/python bench/sync_bench.py`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta

from flags.admin import UnleashAdmin
from planner import migrate
from planner.db import session_scope
from planner.model import Cohort, CohortKind, Feature, Phase, Plan, Rule, UnleashBinding
from planner.lifecycle import Action
from planner.plans import apply_plan
from services.phases import act
from services.sync import sync_plan

FEATURES, USERS = 200, 5000


def bench_plan(key: str) -> Plan:
    from datetime import datetime

    start = datetime.fromisoformat("2030-01-05T08:00:00+01:00")
    features = tuple(Feature(key=f"f{i:03d}", name=f"Feature {i}") for i in range(FEATURES))
    cohorts = (
        Cohort(key="pilot", kind=CohortKind.opt_in, capacity=100),
        Cohort(key="champions", kind=CohortKind.list, users=tuple(f"user-{i:05d}" for i in range(USERS))),
        *(Cohort(key=f"dept-{d}", kind=CohortKind.attribute,
                 rules=(Rule(property="department", operator="IN", values=(d,)),)) for d in
          ("hr", "sales", "it", "legal", "finance", "ops")),
        Cohort(key="berlin", kind=CohortKind.attribute, percentage=30,
               rules=(Rule(property="location", operator="IN", values=("Berlin",)),)),
        Cohort(key="all", kind=CohortKind.everyone),
    )
    waves = [("pilot", ["pilot", "champions"]), ("wave-1", ["dept-hr", "dept-sales"]),
             ("wave-2", ["dept-it", "dept-legal", "dept-finance"]), ("wave-3", ["dept-ops", "berlin"]),
             ("general", ["all"])]
    per = FEATURES // len(waves)
    phases = tuple(Phase(key=k, starts=start + timedelta(weeks=4 * i), cohorts=tuple(cs),
                         features=tuple(f.key for f in features[i * per:(i + 1) * per]))
                   for i, (k, cs) in enumerate(waves))
    return Plan(plan=key, flag_prefix=f"{key}-", unleash=UnleashBinding(environment="development"),
                features=features, cohorts=cohorts, phases=phases)


def stored_bench_plan(directory: str, key: str) -> tuple[str, Plan]:
    """A new SQLite database in `directory` holding the benchmark plan `key`: its URL and the plan."""
    url = f"sqlite:///{directory}/bench.db"
    migrate.upgrade(url)
    plan = bench_plan(key)
    with session_scope(url) as session:
        apply_plan(session=session, plan=plan, actor="bench")
    return url, plan


def empty_plan_of(plan: Plan) -> Plan:
    """The benchmark plan emptied: syncing it archives every flag and deletes every segment it made."""
    return Plan(plan=plan.key, flag_prefix=plan.flag_prefix, unleash=plan.unleash)


def timed_sync(url: str, key: str, admin: UnleashAdmin) -> dict:
    began = time.perf_counter()
    result = sync_plan(database_url=url, plan_key=key, admin=admin, actor="bench")
    seconds = time.perf_counter() - began
    if result.outcome != "ok":
        sys.exit(f"sync failed: {result.error}")
    data = result.as_json()
    return {"seconds": round(seconds, 2), "writes": data["writes"], "created": data["created"],
            "updated": data["updated"], "deleted": data["deleted"], "unchanged": data["unchanged"]}


def timed_action(url: str, key: str, admin: UnleashAdmin, action: Action, phase: str = "wave-3") -> dict:
    began = time.perf_counter()
    outcome = act(database_url=url, admin=admin, key=key, phase=phase, action=action, actor="bench",
                  reason="benchmark")
    seconds = time.perf_counter() - began
    if outcome.error:
        sys.exit(f"{action.value} failed: {outcome.error}")
    return {"seconds": round(seconds, 3), "writes": outcome.writes, "segments": outcome.changed}


def main() -> None:
    admin = UnleashAdmin(os.environ["UNLEASH_URL"], os.environ["UNLEASH_ADMIN_TOKEN"])
    key = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        url, plan = stored_bench_plan(tmp, key)
        report = {"plan": f"{FEATURES} features x {len(plan.cohorts)} cohorts (one a {USERS}-user list)"}
        report["first_sync"] = timed_sync(url, key, admin)
        report["noop_resync"] = timed_sync(url, key, admin)
        moved = plan.phases[2].model_copy(update={"starts": plan.phases[2].starts + timedelta(days=2)})
        changed = plan.model_copy(update={"phases": plan.phases[:2] + (moved,) + plan.phases[3:]})
        with session_scope(url) as session:
            apply_plan(session=session, plan=changed, actor="bench")
        report["one_phase_moved"] = timed_sync(url, key, admin)
        # a lead's actions on wave-3, the phase before the last: each writes its own segment and, for hold and
        # roll back, the segment of the later phase it stops (General); the 200 features' strategies stay.
        # The plan runs first: pilot to wave-3 started now, one after the other, so wave-3 is the current phase.
        report["wave_3_hold"] = timed_action(url, key, admin, Action.hold)
        report["wave_3_resume"] = timed_action(url, key, admin, Action.resume)
        for phase in ("pilot", "wave-1", "wave-2", "wave-3"):
            report[f"{phase.replace('-', '_')}_start_now"] = timed_action(url, key, admin, Action.start, phase)
        report["wave_3_rollback"] = timed_action(url, key, admin, Action.rollback)
        report["wave_3_resume_after_rollback"] = timed_action(url, key, admin, Action.resume)
        report["resync_after_actions"] = timed_sync(url, key, admin)
        # clean up: an empty plan archives every flag and deletes every segment of the benchmark
        with session_scope(url) as session:
            apply_plan(session=session, plan=empty_plan_of(plan), actor="bench")
        report["cleanup"] = timed_sync(url, key, admin)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
