"""Rollback benchmark against the real Unleash (`make bench-rollback`): from a lead's roll back to Unleash's
client API no longer granting the feature, 10 runs, median and max (target: 2 s; the server publishes its
changes about once a second).

A small plan whose pilot phase has started: each run rolls the pilot back (one segment write) and polls the
client API every 20 ms until the phase's segment there is the never-true one, so that no SDK grants the
feature from its next fetch on; then it resumes the pilot and waits until the grant is back.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from flags.admin import UnleashAdmin
from flags.desired import NEVER
from flags.diff import normal_constraint
from planner import migrate
from planner.db import session_scope
from planner.lifecycle import Action
from planner.model import Cohort, CohortKind, Feature, Phase, Plan, UnleashBinding
from planner.plans import apply_plan
from services.phases import act
from services.sync import sync_plan

RUNS = 10


def segment_state(client: httpx.Client, name: str) -> str:
    """What the client API serves for the phase's segment: missing (not published yet), open or closed."""
    payload = client.get("/client/features").json()
    segment = next((s for s in payload.get("segments", []) if s["name"] == name), None)
    if segment is None:
        return "missing"
    closed = [normal_constraint(c) for c in segment["constraints"]] == [normal_constraint(NEVER)]
    return "closed" if closed else "open"


def until(condition, timeout: float = 30.0) -> float:
    began = time.perf_counter()
    while not condition():
        if time.perf_counter() - began > timeout:
            raise SystemExit("Unleash did not follow within 30 s")
        time.sleep(0.02)
    return time.perf_counter() - began


def main() -> None:
    admin = UnleashAdmin(os.environ["UNLEASH_URL"], os.environ["UNLEASH_ADMIN_TOKEN"])
    client = httpx.Client(base_url=os.environ["UNLEASH_URL"], timeout=10,
                          headers={"Authorization": os.environ["UNLEASH_CLIENT_TOKEN"], "Unleash-Client-Spec": "5.1.0"})
    key = f"rollback{uuid.uuid4().hex[:6]}"
    segment = f"rp:{key}:phase:pilot"
    plan = Plan(plan=key, flag_prefix=f"{key}-", unleash=UnleashBinding(environment="development"),
                features=(Feature(key="blog"),),
                cohorts=(Cohort(key="champions", kind=CohortKind.list, users=("u-1", "u-2")),),
                phases=(Phase(key="pilot", starts=datetime.now(UTC) - timedelta(hours=1), cohorts=("champions",),
                              features=("blog",)),))
    rollback, restore, writes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        with session_scope(url) as session:
            apply_plan(session=session, plan=plan, actor="bench")
        assert sync_plan(database_url=url, plan_key=key, admin=admin, actor="bench").outcome == "ok"
        until(lambda: segment_state(client, segment) == "open")
        for _ in range(RUNS):
            began = time.perf_counter()
            outcome = act(database_url=url, admin=admin, key=key, phase="pilot", action=Action.rollback,
                          actor="bench", reason="benchmark")
            until(lambda: segment_state(client, segment) == "closed")
            rollback.append(time.perf_counter() - began)
            writes.append(outcome.writes)
            began = time.perf_counter()
            act(database_url=url, admin=admin, key=key, phase="pilot", action=Action.resume, actor="bench")
            until(lambda: segment_state(client, segment) == "open")
            restore.append(time.perf_counter() - began)
        with session_scope(url) as session:
            apply_plan(session=session, plan=Plan(plan=key, flag_prefix=plan.flag_prefix, unleash=plan.unleash),
                       actor="bench")
        sync_plan(database_url=url, plan_key=key, admin=admin, actor="bench")

    def summary(values: list[float]) -> dict:
        return {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3),
                "runs": [round(v, 3) for v in values]}

    print(json.dumps({"rollback_to_client_api": summary(rollback), "writes_per_rollback": sorted(set(writes)),
                      "resume_to_client_api": summary(restore)}, indent=2))


if __name__ == "__main__":
    main()
