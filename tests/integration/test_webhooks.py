"""Webhooks: events from the real flows reach a receiver on loopback, signed; a failing receiver is retried with
growing pauses; a delivery pending when the planner stops is delivered after it starts again."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from planner import webhooks as outbox
from planner.db import session_scope
from planner.lifecycle import Action
from planner.planfile import load_plan
from planner.plans import apply_plan
from planner.store import plan_row
from planner.tables import WebhookDeliveryRow
from services import phases, webhooks
from services.sync import sync_plan
from tests.integration.test_sync_jobs import wait_for
from tests.integration.unleash import unique
from tests.serving import planner_serve

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook receiver on loopback: answers each post with the next of `answers` (then 200), keeps them all."""

    def __init__(self, answers: list[int] | None = None, before_answer=None):
        self.answers = list(answers or [])
        self.before_answer = before_answer or (lambda: None)  # runs before each answer: a receiver that lags
        self.seen: list[tuple[float, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.seen.append((time.monotonic(), dict(self.headers), body))
                receiver.before_answer()
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.server.shutdown()
        self.server.server_close()


def plan_with_webhook(database_url, url: str):
    now = datetime.now(UTC).replace(microsecond=0)
    plan = load_plan(f"""
plan: {unique("phase-")}
unleash: {{project: default, environment: development}}
features: [{{key: blog}}]
cohorts: [{{key: champions, kind: list, users: [c-1]}}]
phases:
  - {{key: pilot, name: Pilot, starts: "{(now + timedelta(days=1)).isoformat()}", cohorts: [champions], features: [blog]}}
""")
    plan = plan.model_copy(update={"flag_prefix": f"{plan.key}-"})
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="lead-1")
    hook, secret = webhooks.add(database_url=database_url, key=plan.key, url=url, actor="lead-1")
    return plan, secret


def deliveries(database_url) -> list[WebhookDeliveryRow]:
    with session_scope(database_url) as session:
        from sqlmodel import select

        return list(session.exec(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id)))


def test_a_hold_is_told_signed_and_the_signature_verifies(database_url, admin):
    with Receiver() as receiver:
        plan, secret = plan_with_webhook(database_url, receiver.url)
        assert sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead-1").outcome == "ok"
        phases.act(database_url=database_url, admin=admin, key=plan.key, phase="pilot", action=Action.hold,
                   actor="lead-1", reason="the works council asked to wait")
        with httpx.Client(timeout=5) as client:
            assert webhooks.deliver_due(database_url, client, owner="test") == 1
        (_at, headers, body), = receiver.seen
    event = json.loads(body)
    assert (event["event"], event["plan"], event["data"]["phase"], event["data"]["by"], event["data"]["reason"]) == (
        "phase.held", plan.key, "pilot", "lead-1", "the works council asked to wait")
    assert headers["X-Planner-Event"] == "phase.held"
    assert outbox.verify(secret, body, headers["X-Planner-Signature"], now=int(time.time()))
    assert not outbox.verify(secret, body + b" ", headers["X-Planner-Signature"], now=int(time.time()))
    assert not outbox.verify("whsec_other", body, headers["X-Planner-Signature"], now=int(time.time()))
    assert not outbox.verify(secret, body, headers["X-Planner-Signature"], now=int(time.time()) + 3600)  # replayed
    assert secret not in body.decode() and secret not in json.dumps(headers)
    assert [d.state for d in deliveries(database_url)] == ["delivered"]


def enqueue(database_url, plan, count: int) -> None:
    with session_scope(database_url) as session:
        row = plan_row(session, plan.key)
        for run in range(count):
            outbox.enqueue(session, plan_id=row.id, plan_key=plan.key, event="sync.failed", data={"run": run})


def test_a_receiver_that_lags_holds_up_only_its_own_deliveries(database_url):
    others_done = threading.Event()
    waited = []
    with Receiver() as quick, Receiver(before_answer=lambda: waited.append(others_done.wait(timeout=8))) as slow:
        quick_plan, _ = plan_with_webhook(database_url, quick.url)
        slow_plan, _ = plan_with_webhook(database_url, slow.url)
        enqueue(database_url, slow_plan, 3)
        enqueue(database_url, quick_plan, 3)
        quick.before_answer = lambda: len(quick.seen) == 3 and others_done.set()
        with httpx.Client(timeout=10) as client:
            assert webhooks.deliver_due(database_url, client, owner="test") == 6
    assert len(quick.seen) == 3 and len(slow.seen) == 3
    assert waited[0] is True  # the quick receiver had all three while the slow one still held the first
    assert [json.loads(b)["data"]["run"] for _a, _h, b in slow.seen] == [0, 1, 2]  # each receiver's in order


def test_after_a_receivers_failure_its_other_deliveries_wait_for_the_next_round(database_url):
    with Receiver(answers=[500]) as receiver:
        plan, _ = plan_with_webhook(database_url, receiver.url)
        enqueue(database_url, plan, 3)
        with httpx.Client(timeout=5) as client:
            assert webhooks.deliver_due(database_url, client, owner="test") == 1
            first = deliveries(database_url)
            assert [(d.attempts, d.claimed_by) for d in first] == [(1, "test"), (0, ""), (0, "")]  # given back
            assert webhooks.deliver_due(database_url, client, owner="other") == 2  # any sender takes them
        assert len(receiver.seen) == 3
    assert [d.state for d in deliveries(database_url)] == ["pending", "delivered", "delivered"]  # 1st: its backoff


def test_a_failing_receiver_is_retried_with_growing_pauses_until_it_answers(database_url):
    with Receiver(answers=[503, 500]) as receiver:
        plan, _secret = plan_with_webhook(database_url, receiver.url)
        with session_scope(database_url) as session:
            row = plan_row(session, plan.key)
            outbox.enqueue(session, plan_id=row.id, plan_key=plan.key, event="sync.failed", data={"run": 1})
        sender = webhooks.WebhookSender(database_url=database_url, interval=0.2)
        sender.start()
        try:
            wait_for(lambda: len(receiver.seen) == 3, deadline=30, what="the third attempt")
        finally:
            sender.stop()
        times = [at for at, _h, _b in receiver.seen]
        bodies = {b for _a, _h, b in receiver.seen}
    assert len(bodies) == 1  # the same event (one id) each time
    assert times[1] - times[0] >= outbox.backoff(1).total_seconds() - 0.3  # 2 s
    assert times[2] - times[1] >= outbox.backoff(2).total_seconds() - 0.3  # 4 s
    (delivery,) = deliveries(database_url)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)


def test_a_delivery_pending_across_a_planner_restart_is_still_delivered(database_url, tmp_path):
    """The outbox is in the database: the planner is killed while the receiver is away, and the event
    arrives once both are back."""
    with Receiver(answers=[503]) as receiver:
        plan, _secret = plan_with_webhook(database_url, receiver.url)
        with session_scope(database_url) as session:
            row = plan_row(session, plan.key)
            outbox.enqueue(session, plan_id=row.id, plan_key=plan.key, event="drift.found", data={"changes": 1})
        env = {"PLANNER_DATABASE_URL": database_url, "PLANNER_DEV_LOGIN": "true"}
        with planner_serve(env) as (server, _base):
            wait_for(lambda: len(receiver.seen) == 1, deadline=30, what="the first attempt")
            # the receiver answers before the planner records the attempt: kill only once it is recorded
            wait_for(lambda: deliveries(database_url)[0].attempts == 1, deadline=30,
                     what="the first attempt to be recorded")
            os.killpg(server.pid, signal.SIGKILL)  # killed: no clean stop
            server.wait(timeout=30)
        (pending,) = deliveries(database_url)
        assert pending.state == "pending" and pending.attempts == 1
        with planner_serve(env):
            wait_for(lambda: len(receiver.seen) == 2, deadline=30, what="the delivery after the restart")
            wait_for(lambda: deliveries(database_url)[0].state == "delivered", deadline=30,
                     what="the delivery to be recorded")
        assert receiver.seen[0][2] == receiver.seen[1][2]
