"""Opt-ins reach the real Unleash in seconds, coalesced, and survive Unleash being down."""

from __future__ import annotations

import time

import pytest

from flags.admin import UnleashAdmin
from flags.limits import ResourceLimits
from planner.db import session_scope
from planner.optin import leave
from planner.optin_batch import join
from planner.planfile import load_plan
from planner.plans import apply_plan
from planner.store import plan_row
from planner.syncruns import acquire_lease, release_lease
from tests.integration.test_sync import FailAfter
from tests.integration.test_sync_jobs import wait_for
from tests.integration.unleash import admin_client, client_payload, unique, wait_for_client_api
from tests.plans import DEMO
from services.membership_push import MembershipPusher, PushReport, dirty_plans, push_plan
from services.sync import sync_plan

pytestmark = pytest.mark.integration


@pytest.fixture
def plan(database_url, env):
    key = unique("push-")
    plan = load_plan(DEMO.read_text().replace("plan: intranet-rollout", f"plan: {key}\nflag_prefix: {key}-"))
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="lead")
    with admin_client(env) as admin:
        assert sync_plan(database_url=database_url, plan_key=key, admin=admin, actor="lead").outcome == "ok"
    return plan


def opt_in(url, plan, user):
    with session_scope(url) as session:
        join(session=session, plan_key=plan.key, cohort_key="pilot", user=user, accepted_version=1)


def pilot_users(env, plan) -> set[str]:
    payload = client_payload(env)
    flag = next((f for f in payload["features"] if f["name"] == plan.flag_name("wiki")), {})
    segments = {s["id"]: s for s in payload.get("segments", [])}
    users = set()
    for strategy in flag.get("strategies", []):
        for segment_id in strategy.get("segments", []):
            segment = segments[segment_id]
            if segment["name"].startswith(f"rp:{plan.key}:pilot:"):
                users |= set(segment["constraints"][0]["values"])
    return users


def test_opt_ins_are_coalesced_into_few_writes_and_reach_the_client_api(database_url, plan, env):
    with admin_client(env) as admin:
        report = PushReport()
        opt_in(database_url, plan, "p-1")
        assert dirty_plans(database_url) == [plan.key]
        push_plan(database_url, plan.key, admin, ResourceLimits(), report)
        # the first member: the cohort's segment and its strategies, without reading all of Unleash
        assert report.segment_writes == 1
        assert dirty_plans(database_url) == []
        for i in range(2, 42):
            opt_in(database_url, plan, f"p-{i}")
        writes = admin.writes
        push_plan(database_url, plan.key, admin, ResourceLimits(), report)
        assert admin.writes - writes == 1  # 40 opt-ins, one segment update
        wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {f"p-{i}" for i in range(1, 42)})


def test_the_pusher_loop_makes_an_opt_in_visible_within_seconds(database_url, plan, env):
    with admin_client(env) as admin:
        pusher = MembershipPusher(database_url=database_url, admin=admin, interval=0.5)
        pusher.start()
        try:
            opt_in(database_url, plan, "fast-1")
            started = time.monotonic()
            wait_for_client_api(env, lambda _fs: "fast-1" in pilot_users(env, plan), timeout=10)
            first = time.monotonic() - started
            with session_scope(database_url) as session:
                leave(session=session, plan_key=plan.key, cohort_key="pilot", user="fast-1")
                join(session=session, plan_key=plan.key, cohort_key="pilot", user="fast-2", accepted_version=1)
            started = time.monotonic()
            wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {"fast-2"}, timeout=10)
            second = time.monotonic() - started
        finally:
            pusher.stop()
    assert first < 5 and second < 5, (first, second)


def test_unleash_down_loses_no_opt_in(database_url, plan, env):
    with admin_client(env) as admin:
        push_plan(database_url, plan.key, admin, ResourceLimits(), PushReport())
        opt_in(database_url, plan, "d-1")
        push_plan(database_url, plan.key, admin, ResourceLimits(), PushReport())
        opt_in(database_url, plan, "d-2")
    broken = UnleashAdmin(env["UNLEASH_URL"], env["UNLEASH_ADMIN_TOKEN"], transport=FailAfter(0), retries=0)
    down = MembershipPusher(database_url=database_url, admin=broken)
    down.push_once()  # logs, keeps the cohort marked
    assert dirty_plans(database_url) == [plan.key]
    with admin_client(env) as admin:
        MembershipPusher(database_url=database_url, admin=admin).push_once()
    assert dirty_plans(database_url) == []
    wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {"d-1", "d-2"})


def test_a_cohort_that_needs_a_segment_more_or_less_gets_it_with_its_strategies_alone(database_url, plan, env):
    small = ResourceLimits(constraint_values=10)  # ten users a segment, to cross the line quickly
    with admin_client(env) as admin:
        report = PushReport()
        opt_in(database_url, plan, "g-00")
        push_plan(database_url, plan.key, admin, small, report)
        for i in range(1, 25):
            opt_in(database_url, plan, f"g-{i:02d}")
        push_plan(database_url, plan.key, admin, small, report)
        assert report.segment_writes == 4  # the first part, two more, the first updated
        wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {f"g-{i:02d}" for i in range(25)})
        strategies = admin.list_strategies("default", plan.flag_name("wiki"), "development")
        assert sorted(s["title"] for s in strategies if ":pilot:" in (s["title"] or "")) == [
            f"rp:{plan.key}:pilot:{n}" for n in (1, 2, 3)]
        # members leave: one segment less, and its strategies: the same scoped run, no full sync of the plan
        with session_scope(database_url) as session:
            for i in range(10, 25):
                leave(session=session, plan_key=plan.key, cohort_key="pilot", user=f"g-{i:02d}")
        writes = report.segment_writes, report.other_writes
        flags = [plan.flag_name(f.key) for f in plan.features
                 if any(":pilot:" in (s["title"] or "") for s in admin.list_strategies("default", plan.flag_name(f.key),
                                                                                       "development"))]
        push_plan(database_url, plan.key, admin, small, report)
        assert report.segment_writes - writes[0] == 2  # parts 2 and 3 deleted; part 1 keeps its ten members
        assert report.other_writes - writes[1] == 2 * len(flags) > 0  # their strategies on each flag
        strategies = admin.list_strategies("default", plan.flag_name("wiki"), "development")
        assert sorted(s["title"] for s in strategies if ":pilot:" in (s["title"] or "")) == [f"rp:{plan.key}:pilot:1"]
        wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {f"g-{i:02d}" for i in range(10)})


def test_a_push_round_waits_for_a_sync_that_holds_the_plan(database_url, plan, env):
    """While a sync (a lead's, or another server process's pusher) holds the plan's lease, the pusher writes
    nothing and the cohort stays marked; the round after the lease is released pushes it."""
    with session_scope(database_url) as session:
        row = plan_row(session, plan.key)
        owner = acquire_lease(session, row)
    opt_in(database_url, plan, "l-1")
    with admin_client(env) as admin:
        report, writes = PushReport(), admin.writes
        push_plan(database_url, plan.key, admin, ResourceLimits(), report)
        assert admin.writes == writes and report.segment_writes == 0 and report.other_writes == 0
        assert dirty_plans(database_url) == [plan.key]
        with session_scope(database_url) as session:
            release_lease(session, row.id, owner)
        push_plan(database_url, plan.key, admin, ResourceLimits(), report)
        assert report.segment_writes == 1 and dirty_plans(database_url) == []
        with session_scope(database_url) as session:  # the round gave the lease back: a sync can start
            release_lease(session, row.id, acquire_lease(session, plan_row(session, plan.key)))
    wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {"l-1"})


def test_pushers_of_several_processes_take_turns(database_url, plan, env):
    """A round keeps the plan for its cool-down: a second process's pusher skips it meanwhile (so opt-ins
    are coalesced as with one process), and a lead's sync waits for it instead of failing."""
    with admin_client(env) as admin:
        report = PushReport()
        opt_in(database_url, plan, "t-1")
        push_plan(database_url, plan.key, admin, ResourceLimits(), report, cooldown=1.5)
        opt_in(database_url, plan, "t-2")
        push_plan(database_url, plan.key, admin, ResourceLimits(), report, cooldown=1.5)  # the other process
        assert report.segment_writes == 1 and dirty_plans(database_url) == [plan.key]
        started = time.monotonic()
        outcome = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead")
        assert outcome.outcome == "ok" and time.monotonic() - started > 0.5  # waited for the cool-down
        assert dirty_plans(database_url) == []  # the sync took the new member along
    wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {"t-1", "t-2"})


def test_a_stored_id_unleash_would_refuse_blocks_nobody_else_of_the_cohort(database_url, plan, env):
    """Rows stored before ids were checked at the door (an empty id, one over Unleash's 100 characters): the
    cohort's segment still reaches Unleash with everyone else, and a lead's sync of the plan succeeds."""
    from planner.tables import CohortRow, MembershipRow, PlanRow, utcnow

    opt_in(database_url, plan, "ok-1")
    with session_scope(database_url) as session:
        cohort = session.query(CohortRow).join(PlanRow).filter(PlanRow.key == plan.key, CohortRow.key == "pilot").one()
        for user in ("", "x" * 101):
            session.add(MembershipRow(cohort_id=cohort.id, user_id=user, status="member", requested_at=utcnow(),
                                      joined_at=utcnow(), guidelines_version=1, accepted_at=utcnow()))
        cohort.membership_version += 1
    opt_in(database_url, plan, "ok-2")
    with admin_client(env) as admin:
        report = PushReport()
        push_plan(database_url, plan.key, admin, ResourceLimits(), report)
        assert dirty_plans(database_url) == []
        wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == {"ok-1", "ok-2"})
        synced = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead")
        assert synced.outcome == "ok" and synced.writes == 0, synced.error


def test_a_planner_killed_mid_push_loses_no_opt_in_and_the_next_sync_converges(database_url, plan, env):
    """`planner serve` is SIGKILLed while its pusher holds the plan (Unleash slowed by a proxy so the round
    lasts): the lease lapses within PLANNER_SYNC_LEASE_SECONDS, the lead's next sync takes every opt-in along,
    nothing is duplicated, and the sync after it writes nothing."""
    import os
    import signal

    from planner.errors import SyncBusy
    from tests.integration.slow_proxy import SlowProxy
    from tests.serving import planner_serve

    joined = {f"k-{i}" for i in range(5)}
    for user in sorted(joined):
        opt_in(database_url, plan, user)
    proxy = SlowProxy(env["UNLEASH_URL"], delay=2.0)
    server_env = {"PLANNER_DATABASE_URL": database_url, "UNLEASH_URL": proxy.url_for(env["UNLEASH_URL"]),
                  "UNLEASH_CLIENT_TOKEN": "", "PLANNER_SESSION_SECRET": "k" * 32, "PLANNER_SYNC_LEASE_SECONDS": "6",
                  "PLANNER_SYNC_HEARTBEAT_SECONDS": "1"}
    with planner_serve(server_env) as (server, _base):
        deadline = time.monotonic() + 60
        while True:  # the pusher's round has begun: it holds the plan
            with session_scope(database_url) as session:
                owner = plan_row(session, plan.key).sync_lease_owner or ""
            if owner.startswith("push-"):
                break
            assert time.monotonic() < deadline, "the pusher never took the plan"
            time.sleep(0.1)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        killed = time.monotonic()
        assert dirty_plans(database_url) == [plan.key]  # killed mid-round: its opt-ins not marked pushed
        with admin_client(env) as admin:
            while True:
                try:
                    outcome = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead")
                    break
                except SyncBusy:
                    assert time.monotonic() - killed < 60, "the dead pusher's lease never lapsed"
                    time.sleep(0.5)
            assert outcome.outcome == "ok", outcome.error
            assert time.monotonic() - killed < 6 + 12  # the lease, and the sync's wait for a push round
            assert dirty_plans(database_url) == []
            wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == joined)
            names = [s["name"] for s in admin.list_segments() if s["name"].startswith(f"rp:{plan.key}:pilot")]
            assert len(names) == len(set(names))  # no segment twice
            assert sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead").writes == 0
    proxy.close()


@pytest.mark.one_pass  # an Unleash outage: 35 s that the database's kind does not change
def test_unleash_down_longer_than_a_lease_while_people_join_loses_no_opt_in(database_url, plan, env):
    """`planner serve` talks to Unleash through a proxy that cuts every connection and refuses new ones for
    35 s (longer than the 30 s a push or sync holds a plan's lease) while people join through the JSON API: every join is answered at once (the database has it), and
    once Unleash is back the pusher brings every member there, each once; the lead's sync then writes 0."""
    import re

    import httpx

    from tests.integration.slow_proxy import SlowProxy
    from tests.serving import planner_serve

    proxy = SlowProxy(env["UNLEASH_URL"], delay=0.0)
    server_env = {"PLANNER_DATABASE_URL": database_url, "UNLEASH_URL": proxy.url_for(env["UNLEASH_URL"]),
                  "UNLEASH_CLIENT_TOKEN": "", "PLANNER_DEV_LOGIN": "true"}
    joined = [f"m-{i:02d}" for i in range(20)]
    with planner_serve(server_env) as (_server, base):
        proxy.cut()  # Unleash is gone
        went_down = time.monotonic()
        for user in joined:
            client = httpx.Client(base_url=base, timeout=30)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            client.post("/login", data={"user": user, "role": "pilot", "csrf_token": csrf})
            answer = client.post(f"/api/pilot/{plan.key}/pilot/join", json={"accept_guidelines_version": 1},
                                 headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 200 and answer.json()["status"] == "member", answer.text
            time.sleep(1.0)  # spread over the outage, the pusher failing each second meanwhile
        assert dirty_plans(database_url) == [plan.key]
        time.sleep(max(0.0, 35 - (time.monotonic() - went_down)))
        proxy.resume()  # Unleash is back
        wait_for_client_api(env, lambda _fs: pilot_users(env, plan) == set(joined), timeout=60)
        # the pusher marks the plan clean in the database just after Unleash has taken the write
        wait_for(lambda: dirty_plans(database_url) == [], deadline=30, what="the pusher to mark the plan pushed")
    with admin_client(env) as admin:
        names = [s["name"] for s in admin.list_segments() if s["name"].startswith(f"rp:{plan.key}:pilot")]
        assert len(names) == len(set(names))
        assert sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead").writes == 0
    proxy.close()
