"""Two `planner serve` replicas on two ports against one PostgreSQL behave as one: a sign-in made on one is good
on the other, one controller leads (the plan is synced once), and each webhook delivery is posted once."""

from __future__ import annotations

import json
import re
import time

import httpx
from sqlmodel import select

from planner.db import session_scope
from planner.plans import apply_plan
from planner.store import plan_row
from planner.tables import LeaderLeaseRow, SyncRunRow
from planner.webhooks import enqueue
from services import webhooks
from tests.integration.test_sync_jobs import wait_for
from tests.integration.test_webhooks import Receiver
from tests.integration.unleash import unique
from tests.plans import demo_plan
from tests.serving import planner_serve

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_in(base: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    token = CSRF.search(client.get("/login").text).group(1)
    answer = client.post("/login", data={"user": user, "role": "lead", "csrf_token": token})
    assert answer.status_code in (200, 303), answer.text
    return client


def test_two_replicas_on_one_postgresql_share_sessions_one_controller_and_the_outbox(postgres_url, env):
    plan = demo_plan().model_copy(update={"plan": unique("replicas-"), "flag_prefix": unique("rp") + "-"})
    with Receiver() as receiver:
        with session_scope(postgres_url) as session:
            apply_plan(session=session, plan=plan, actor="test")
        webhooks.add(database_url=postgres_url, key=plan.key, url=receiver.url, actor="test")
        with session_scope(postgres_url) as session:
            plan_id = plan_row(session, plan.key).id
            for i in range(5):
                enqueue(session, plan_id=plan_id, plan_key=plan.key, event="drift.found", data={"changes": i})
        common = {"PLANNER_DATABASE_URL": postgres_url, "PLANNER_DEV_LOGIN": "true",
                  "PLANNER_SESSION_SECRET": "replicas-share-this-secret-" + "x" * 20,
                  "PLANNER_CONTROLLER": "true", "PLANNER_CONTROLLER_INTERVAL": "1"}
        with planner_serve(common) as (_a, base_a), planner_serve(common) as (_b, base_b):
            lead = signed_in(base_a, "lead-1")
            other = httpx.Client(base_url=base_b, cookies=lead.cookies, timeout=30)
            page = other.get(f"/plans/{plan.key}")
            assert page.status_code == 200 and plan.title in page.text  # the session made on A is good on B

            def synced() -> list[SyncRunRow]:
                with session_scope(postgres_url) as session:
                    return list(session.exec(select(SyncRunRow).where(SyncRunRow.plan_id == plan_id,
                                                                      SyncRunRow.state == "done")))

            wait_for(lambda: synced(), deadline=60, what="the controller's sync of the plan")
            wait_for(lambda: sum(b'"drift.found"' in body for _a, _h, body in receiver.seen) >= 5, deadline=60,
                     what="the five webhook deliveries")
            time.sleep(3)  # three more rounds of both controllers and senders: nothing more may happen
            assert len(synced()) == 1  # one controller synced it once; the other did not sync it again
            with session_scope(postgres_url) as session:
                leases = list(session.exec(select(LeaderLeaseRow).where(LeaderLeaseRow.name == "controller")))
            assert len(leases) == 1 and leases[0].owner
            bodies = [json.loads(body) for _at, _headers, body in receiver.seen]
            ids = [b["id"] for b in bodies]
            assert len(ids) == len(set(ids))  # each delivery posted once, by one of the two replicas
            ours = sorted(b["data"]["changes"] for b in bodies if b["event"] == "drift.found")
            assert ours == [0, 1, 2, 3, 4]
            # the controller's own events (phase statuses, the gate's verdict) were told once too
            assert len([b for b in bodies if b["event"] == "gate.verdict_changed"]) == 1
