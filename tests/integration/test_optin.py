"""Opt-in membership in the database: guidelines, capacity, FIFO waitlist, concurrency, re-acceptance."""

from __future__ import annotations

import threading

import pytest

from planner.db import session_scope
from planner.model import Guidelines
from planner.optin import OptInRefused, accept_guidelines, effective_members, leave, roster
from planner.optin_batch import join
from planner.plans import apply_plan
from tests.plans import demo_plan


def small_pilot(capacity: int):
    plan = demo_plan()
    pilot = plan.cohort("pilot").model_copy(update={"capacity": capacity})
    return plan.model_copy(update={"cohorts": tuple(pilot if c.key == "pilot" else c for c in plan.cohorts)})


def setup(url, plan):
    with session_scope(url) as session:
        apply_plan(session=session, plan=plan, actor="lead")


def do_join(url, plan, user, version=1):
    with session_scope(url) as session:
        return join(session=session, plan_key=plan.key, cohort_key="pilot", user=user, accepted_version=version)


def do_leave(url, plan, user):
    with session_scope(url) as session:
        return leave(session=session, plan_key=plan.key, cohort_key="pilot", user=user)


def users(url, plan):
    with session_scope(url) as session:
        members, waiting = roster(session, plan_key=plan.key, cohort_key="pilot")
    return [m.user_id for m in members], [w.user_id for w in waiting]


def test_joining_needs_the_current_guidelines_and_an_open_cohort(database_url):
    plan = small_pilot(5)
    setup(database_url, plan)
    with pytest.raises(OptInRefused, match="accept the current usage guidelines"):
        do_join(database_url, plan, "u-1", version=None)
    with pytest.raises(OptInRefused, match="not open for opt-in"):
        with session_scope(database_url) as session:
            join(session=session, plan_key=plan.key, cohort_key="hr", user="u-1", accepted_version=1)
    assert do_join(database_url, plan, "u-1").status == "member"
    assert do_join(database_url, plan, "u-1").changed is False  # twice: nothing new
    assert users(database_url, plan) == (["u-1"], [])


def test_a_full_cohort_has_a_fifo_waitlist_that_moves_up_when_a_member_leaves(database_url):
    plan = small_pilot(2)
    setup(database_url, plan)
    results = [do_join(database_url, plan, f"u-{i}") for i in range(1, 5)]
    assert [(r.status, r.position) for r in results] == [("member", None), ("member", None), ("waiting", 1),
                                                          ("waiting", 2)]
    assert do_leave(database_url, plan, "u-1").promoted == "u-3"
    assert users(database_url, plan) == (["u-2", "u-3"], ["u-4"])
    assert do_leave(database_url, plan, "u-4").promoted is None  # leaving the waitlist frees no seat
    assert users(database_url, plan) == (["u-2", "u-3"], [])


def test_concurrent_joins_never_overfill_or_duplicate(each_database_url):
    url = each_database_url
    plan = small_pilot(10)
    setup(url, plan)
    errors = []

    def worker(n):
        try:
            for i in range(5):
                do_join(url, plan, f"user-{n}-{i}")
                do_join(url, plan, f"user-{n}-{i}")  # the same user again: no duplicate
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    members, waiting = users(url, plan)
    assert len(members) == 10 and len(waiting) == 30
    assert len(set(members + waiting)) == 40


def test_a_new_guidelines_version_asks_members_again_and_can_pause_access(database_url):
    plan = small_pilot(5)
    setup(database_url, plan)
    do_join(database_url, plan, "u-1")
    do_join(database_url, plan, "u-2")
    newer = plan.model_copy(update={"guidelines": Guidelines(version=2, text="new rules", pause_until_accepted=True)})
    setup(database_url, newer)
    with session_scope(database_url) as session:
        assert effective_members(session, newer)[0]["pilot"] == []  # paused until accepted
        accept_guidelines(session=session, plan=newer, user="u-2", version=2)
    with session_scope(database_url) as session:
        assert effective_members(session, newer)[0]["pilot"] == ["u-2"]
    relaxed = newer.model_copy(update={"guidelines": Guidelines(version=2, text="new rules")})
    setup(database_url, relaxed)
    with session_scope(database_url) as session:
        assert effective_members(session, relaxed)[0]["pilot"] == ["u-1", "u-2"]
