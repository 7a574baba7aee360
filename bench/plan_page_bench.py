"""Plan page render time: 20 phases, 200 features, 20 cohorts, through the whole app (TestClient, no network).

Target (issue 3): median under 150 ms on the 2-core machine. Run: `.venv/bin/python bench/plan_page_bench.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from planner import migrate
from planner.db import session_scope
from planner.model import Cohort, CohortKind, Feature, Grant, Kpi, Phase, Plan, Rule, Training
from planner.plans import apply_plan
from web.app import create_app
from services.settings import Settings

ROUNDS = 30


def big_plan() -> Plan:
    start = datetime.fromisoformat("2027-01-04T08:00:00+01:00")
    features = tuple(Feature(key=f"feature-{i:03d}", name=f"Feature {i}", description="a platform feature")
                     for i in range(200))
    cohorts = tuple(Cohort(key=f"cohort-{i:02d}", name=f"Cohort {i}", kind=CohortKind.attribute, percentage=50,
                           rules=(Rule(property="department", operator="IN", values=(f"D{i}",)),),
                           interests="knowledge exchange", needs="training") for i in range(19))
    cohorts += (Cohort(key="champions", kind=CohortKind.list, users=tuple(f"u-{i}" for i in range(500))),)
    phases = tuple(Phase(key=f"phase-{i:02d}", name=f"Phase {i}", starts=start + timedelta(weeks=2 * i),
                         cohorts=(cohorts[i].key,), features=tuple(f.key for f in features[i * 10:(i + 1) * 10]),
                         grants=(Grant(feature=features[(i * 10 + 15) % 200].key, cohorts=("champions",)),),
                         owners=("Anna", "Ben"), budget=5000.0 + i,
                         trainings=(Training(at=start + timedelta(weeks=2 * i, days=1), audience="all", topic="Intro"),),
                         gate=("kpi-1",) if i else ()) for i in range(20))
    return Plan(plan="big", title="Big plan", goal="Bench", features=features, cohorts=cohorts,
                kpis=(Kpi(key="kpi-1", target=">= 1"),), phases=phases)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        with session_scope(url) as session:
            apply_plan(session=session, plan=big_plan(), actor="bench")
        app = create_app(settings=Settings(dev_login=True, session_secret="b" * 32, database_url=url))
        client = TestClient(app)
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"user": "lead", "role": "lead", "csrf_token": token})
        assert client.get("/plans/big").status_code == 200
        times = []
        for _ in range(ROUNDS):
            began = time.perf_counter()
            response = client.get("/plans/big")
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
        report = {"page": "plan page, 20 phases x 200 features x 20 cohorts", "rounds": ROUNDS,
                  "median_ms": round(statistics.median(times), 1), "p90_ms": round(sorted(times)[int(ROUNDS * .9)], 1),
                  "bytes": len(response.content), "target_ms": 150}
        print(json.dumps(report, indent=2))
        sys.exit(0 if report["median_ms"] < 150 else 1)


if __name__ == "__main__":
    main()
