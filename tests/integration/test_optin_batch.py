"""Group-committed opt-ins (`join_batch` and the web server's JoinQueue) follow the one-by-one rules exactly,
on SQLite and PostgreSQL: capacity, FIFO positions, joining twice, refusals that touch nobody else."""

from __future__ import annotations

import random
import threading
from concurrent.futures import wait

import pytest
from sqlalchemy import func, update
from sqlmodel import select

from planner.db import session_scope
from planner.model import Plan
from planner.optin import JoinResult, OptInRefused
from planner.errors import PlanNotFound
from planner.optin_batch import JoinRequest, join, join_batch
from planner.tables import MembershipRow, PlanRow
from tests.integration.test_optin import setup, small_pilot, users
from services.join_queue import JoinQueue


def outcome_of(result) -> tuple:
    if isinstance(result, JoinResult):
        return (result.status, result.position, result.changed)
    return (type(result).__name__, str(result))


def one_by_one(url: str, plan: Plan, requests: list[JoinRequest]) -> list[tuple]:
    outcomes = []
    for request in requests:
        try:
            with session_scope(url) as session:
                outcomes.append(outcome_of(join(session=session, plan_key=plan.key, cohort_key=request.cohort_key,
                                                user=request.user, accepted_version=request.accepted_version)))
        except OptInRefused as exc:
            outcomes.append(outcome_of(exc))
    return outcomes


def in_one_batch(url: str, requests: list[JoinRequest]) -> list[tuple]:
    with session_scope(url, serial=True) as session:
        return [outcome_of(o) for o in join_batch(session, requests)]


def test_a_batch_answers_each_request_as_if_it_came_alone(each_database_url):
    url = each_database_url
    plan = small_pilot(2)
    setup(url, plan)
    with session_scope(url) as session:  # one member before the batch
        join(session=session, plan_key=plan.key, cohort_key="pilot", user="early", accepted_version=1)
    ask = lambda user, cohort="pilot", version=1, key=plan.key: JoinRequest(key, cohort, user, version)  # noqa: E731
    outcomes = in_one_batch(url, [
        ask("a"),                       # the last seat
        ask("b"),                       # waitlist 1
        ask("stale", version=None),     # refused: guidelines not accepted; nobody else is touched
        ask("c"),                       # waitlist 2
        ask("b"),                       # twice in one batch: nothing new, same place
        ask("early"),                   # already a member
        ask("x", cohort="hr"),          # not an opt-in cohort
        ask("y", key="no-such-plan"),
    ])
    assert outcomes == [
        ("member", None, True), ("waiting", 1, True),
        ("OptInRefused", "accept the current usage guidelines (version 1) to join"),
        ("waiting", 2, True), ("waiting", 1, False), ("member", None, False),
        ("OptInRefused", "'hr' is not open for opt-in (no phase of the plan admits it)"),
        ("PlanNotFound", "no plan 'no-such-plan'"),
    ]
    assert users(url, plan) == (["early", "a"], ["b", "c"])
    # the positions it answered are the ones the waitlist has, and a later batch queues behind them
    assert in_one_batch(url, [ask("c"), ask("d")]) == [("waiting", 2, False), ("waiting", 3, True)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_and_single_joins_agree_on_random_traffic(each_database_url, tmp_path, seed):
    """The same random requests (repeats, refusals, a full cohort) give the same answers and the same
    membership whether written one by one or in batches of random sizes."""
    rng = random.Random(seed)
    plan = small_pilot(7)
    requests = [JoinRequest(plan.key, rng.choice(["pilot", "pilot", "pilot", "hr"]), f"u-{rng.randrange(15)}",
                            rng.choice([1, 1, 1, 1, None])) for _ in range(60)]
    single_url = f"sqlite:///{tmp_path / 'single.db'}"
    from planner.migrate import upgrade

    upgrade(single_url)
    setup(single_url, plan)
    expected = one_by_one(single_url, plan, requests)

    url = each_database_url
    setup(url, plan)
    got, i = [], 0
    while i < len(requests):
        size = rng.randint(1, 12)
        got += in_one_batch(url, requests[i:i + size])
        i += size
    assert got == expected
    assert users(url, plan) == users(single_url, plan)


def test_the_join_queue_coalesces_concurrent_joins_without_overfilling(each_database_url):
    url = each_database_url
    plan = small_pilot(10)
    setup(url, plan)
    joins = JoinQueue(url)
    futures = []

    def client(n: int) -> None:
        for i in range(10):
            for _ in range(2):  # every user twice: one membership
                futures.append(joins.submit(JoinRequest(plan.key, "pilot", f"user-{n}-{i}", 1)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done, pending = wait(futures, timeout=60)
    joins.stop()
    assert not pending and all(f.exception() is None for f in done)
    members, waiting = users(url, plan)
    assert len(members) == 10 and len(waiting) == 70 and len(set(members + waiting)) == 80
    assert joins.joins == 160 and joins.batches < 160 and joins.retried == 0


def test_two_writers_on_one_database_never_overfill(each_database_url):
    """Two server processes (here two queues) write the same cohort at once: the cohort lock keeps the
    capacity and the unique constraint, or the one-by-one retry, keeps everyone in once."""
    url = each_database_url
    plan = small_pilot(25)
    setup(url, plan)
    queues = [JoinQueue(url, max_batch=7), JoinQueue(url, max_batch=5)]
    futures = [queues[i % 2].submit(JoinRequest(plan.key, "pilot", f"u-{i % 60}", 1)) for i in range(120)]
    done, pending = wait(futures, timeout=60)
    for q in queues:
        q.stop()
    assert not pending and all(f.exception() is None for f in done)
    members, waiting = users(url, plan)
    assert len(members) == 25 and len(members) + len(waiting) == 60 == len(set(members + waiting))


def test_a_batch_that_fails_as_a_whole_is_retried_one_by_one(database_url, monkeypatch):
    plan = small_pilot(1)
    setup(database_url, plan)
    import services.join_queue as module

    def broken(session, requests):
        raise RuntimeError("the database went away for a moment")

    monkeypatch.setattr(module, "join_batch", broken)
    joins = JoinQueue(database_url)
    futures = [joins.submit(JoinRequest(plan.key, "pilot", user, version))
               for user, version in [("a", 1), ("b", 1), ("c", None)]]
    wait(futures, timeout=30)
    joins.stop()
    assert [(f.result().status, f.result().position) for f in futures[:2]] == [("member", None), ("waiting", 1)]
    assert isinstance(futures[2].exception(), OptInRefused)
    assert joins.retried == 3
    assert users(database_url, plan) == (["a"], ["b"])


def test_an_archived_plan_takes_no_joins(database_url):
    plan = small_pilot(3)
    setup(database_url, plan)
    with session_scope(database_url) as session:
        session.exec(update(PlanRow).where(PlanRow.key == plan.key).values(archived=True))
    joins = JoinQueue(database_url)
    future = joins.submit(JoinRequest(plan.key, "pilot", "late", 1))
    assert isinstance(future.exception(timeout=30), PlanNotFound)
    joins.stop()
    with session_scope(database_url) as session:
        assert session.exec(select(func.count()).select_from(MembershipRow)).one() == 0
