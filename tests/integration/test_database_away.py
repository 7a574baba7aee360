"""The database goes away for seconds while people join: joins answer 503 meanwhile, never 500; every join
answered as done is stored once; the planner recovers by itself. Twice: a proxy in front of PostgreSQL drops
every connection and refuses new ones (the shared test cluster), and a real restart of a server of the test's
own (`pg_ctl stop -m fast`, down for seconds, started again)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import select

from planner import migrate
from planner.db import engine_for, session_scope
from planner.tables import MembershipRow
from services.plans import apply_plan
from tests.integration.own_postgres import own_postgres
from tests.integration.slow_proxy import SlowProxy
from tests.plans import demo_plan
from tests.serving import planner_serve

pytestmark = pytest.mark.integration
USERS = [f"db-{i:02d}" for i in range(30)]


def joins_through(database_url: str, serve_url: str, outage: Callable[[], None]) -> None:
    """30 signed-in pilot users join while `outage` runs; then every join is stored, once."""
    apply_plan(database_url=database_url, plan=demo_plan(), actor="seed")
    env = {"PLANNER_DATABASE_URL": serve_url, "PLANNER_DEV_LOGIN": "true", "PLANNER_BACKGROUND": "false"}
    statuses: list[int] = []
    answered: set[str] = set()
    with planner_serve(env) as (_server, base):
        people = {}
        for user in USERS:  # signed in before the outage (a sign-in is kept in the database too)
            client = httpx.Client(base_url=base, timeout=30)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            assert client.post("/login", data={"user": user, "role": "pilot", "csrf_token": csrf}).status_code == 303
            people[user] = (client, csrf)

        def join_all() -> None:
            deadline = time.monotonic() + 90
            while len(answered) < len(USERS) and time.monotonic() < deadline:
                for user, (client, csrf) in people.items():
                    if user in answered:
                        continue
                    response = client.post("/api/pilot/intranet-rollout/pilot/join", headers={"X-CSRF-Token": csrf},
                                           json={"accept_guidelines_version": 1})
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        answered.add(user)
                    time.sleep(0.05)

        joiner = threading.Thread(target=join_all)
        joiner.start()
        time.sleep(0.4)
        outage()
        joiner.join(timeout=120)
        assert answered == set(USERS), f"not every join went through: {sorted(set(USERS) - answered)}"
        assert set(statuses) <= {200, 503} and 503 in statuses, sorted(set(statuses))  # the outage showed, as 503
        assert httpx.get(f"{base}/health", timeout=10).json()["database_revision"]
    with session_scope(database_url) as session:
        stored = session.exec(select(MembershipRow.user_id)).all()
        distinct = session.exec(select(func.count(func.distinct(MembershipRow.user_id)))).one()
    assert sorted(stored) == sorted(USERS) and distinct == len(USERS)  # every answered join, once


def test_opt_ins_through_a_lost_database_connection_lose_nothing_and_the_planner_recovers(postgres_url):
    target = make_url(postgres_url)
    proxy = SlowProxy(f"http://{target.host}:{target.port}", delay=0.0)
    proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)

    def outage() -> None:
        proxy.cut()  # every connection gone, new ones refused
        time.sleep(3)
        proxy.resume()

    try:
        joins_through(postgres_url, proxied, outage)
    finally:
        proxy.close()


def test_opt_ins_through_a_real_database_restart_lose_nothing_and_the_planner_recovers(tmp_path):
    with own_postgres(tmp_path / "run") as server:
        migrate.upgrade(server.url)
        try:
            joins_through(server.url, server.url, lambda: server.restart(down_for=2))
        finally:
            engine_for(server.url).dispose()
            engine_for.cache_clear()
