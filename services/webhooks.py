"""Webhooks: a plan's URLs, and the sender that posts the outbox (planner/webhooks.py), signed, with retries.

Every server process runs a sender; each delivery is claimed in a compare-and-set UPDATE before it is posted,
so two processes never post the same one at once. A delivery pending when the planner stops is posted after
it starts again: the outbox is in the database.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from planner import audit, request_id
from planner import webhooks as outbox
from planner.db import session_scope
from planner.store import live_plan
from planner.tables import WebhookDeliveryRow, WebhookRow
from services import telemetry
from services.loop import Loop

log = logging.getLogger(__name__)
TIMEOUT = 10.0  # seconds a receiver has to answer
RECEIVERS = 8  # receivers one sender posts to at once
ERROR_CHARS = 300  # of a receiver's answer, kept to show why it failed


@dataclass(frozen=True)
class WebhookView:
    id: int
    url: str
    created_by: str
    created_at: object


def add(*, database_url: str, key: str, url: str, actor: str) -> tuple[WebhookView, str]:
    """A new webhook of plan `key`, and its signing secret (shown this once)."""
    with session_scope(database_url) as session:
        row, plan = live_plan(session, key)
        hook, secret = outbox.add_webhook(session, plan_id=row.id, url=url, actor=actor)
        audit.record(session, action="webhook.add", actor=actor, plan_id=row.id, summary=f"added webhook {hook.url}")
        return WebhookView(hook.id, hook.url, hook.created_by, hook.created_at), secret


def remove(*, database_url: str, key: str, webhook_id: int, actor: str) -> None:
    with session_scope(database_url) as session:
        row, _plan = live_plan(session, key)
        hook = outbox.remove_webhook(session, plan_id=row.id, webhook_id=webhook_id)
        audit.record(session, action="webhook.remove", actor=actor, plan_id=row.id,
                     summary=f"removed webhook {hook.url}")


def listing(*, database_url: str, key: str) -> tuple[list[WebhookView], list[tuple[WebhookDeliveryRow, WebhookRow]]]:
    """The plan's webhooks (never their secrets) and its latest deliveries with their state."""
    with session_scope(database_url) as session:
        row, _plan = live_plan(session, key)
        hooks = [WebhookView(h.id, h.url, h.created_by, h.created_at) for h in outbox.webhooks(session, row.id)]
        return hooks, outbox.deliveries(session, row.id)


def _post(client: httpx.Client, hook: WebhookRow, delivery: WebhookDeliveryRow) -> tuple[int | None, str | None]:
    body = delivery.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": "rollout-planner-webhooks",
               "X-Planner-Event": delivery.event, "X-Planner-Delivery": str(delivery.id),
               "X-Planner-Signature": outbox.signature(hook.secret, body, int(time.time()))}
    try:
        response = client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: no answer from the receiver"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, response.text[:ERROR_CHARS]


def deliver_due(database_url: str, client: httpx.Client, *, owner: str) -> int:
    """Post every delivery that is due and not held by another sender; the number posted.

    Each receiver's deliveries go in order, and receivers are posted to side by side (up to RECEIVERS at once),
    so one that does not answer holds up only its own. After a receiver's first failure this round, the rest
    of its deliveries are given back for the next round, not each left to time out in turn (their claims
    would run out meanwhile, and another sender would post them too)."""
    with session_scope(database_url, serial=True) as session:
        claimed = outbox.claim_due(session, owner=owner)
        work = [(session.get(WebhookDeliveryRow, i), None) for i in claimed]
        work = [(d, session.get(WebhookRow, d.webhook_id)) for d, _ in work if d is not None]
    by_receiver: dict[int, list[tuple[WebhookDeliveryRow, WebhookRow | None]]] = {}
    for delivery, hook in work:
        by_receiver.setdefault(delivery.webhook_id, []).append((delivery, hook))
    post = request_id.carried(lambda queue: _post_in_order(database_url, client, queue, owner=owner))
    if len(by_receiver) <= 1:
        return sum(post(queue) for queue in by_receiver.values())
    with ThreadPoolExecutor(max_workers=min(RECEIVERS, len(by_receiver)), thread_name_prefix="webhook") as pool:
        return sum(pool.map(post, by_receiver.values()))


def _post_in_order(database_url: str, client: httpx.Client, queue: list[tuple[WebhookDeliveryRow, WebhookRow | None]],
                   *, owner: str) -> int:
    """One receiver's deliveries, in order, until one fails; the number posted."""
    for posted, (delivery, hook) in enumerate(queue, start=1):
        status, error = _post(client, hook, delivery) if hook is not None else (None, "the webhook was removed")
        failed = error is not None and hook is not None  # the receiver did not take it
        with session_scope(database_url, serial=True) as session:
            row = outbox.record_attempt(session, delivery.id, owner=owner, status=status, error=error)
            if failed:
                outbox.release(session, [d.id for d, _ in queue[posted:]], owner=owner)
        if row is not None:  # None: another sender took it over meanwhile, and counts it
            outcome = {"delivered": "delivered", "failed": "failed"}.get(row.state, "retry")
            telemetry.WEBHOOK_DELIVERIES.labels(delivery.event, outcome).inc()
        if row is not None and row.state == "failed":
            log.warning("webhook delivery %s (%s) given up after %s attempts", delivery.id, delivery.event, row.attempts)
        if failed:
            return posted
    return len(queue)


class WebhookSender(Loop):
    """The loop, one per server process, beside the web app."""

    name = "webhook-sender"
    stop_timeout = TIMEOUT + 5

    def __init__(self, *, database_url: str, interval: float = 1.0, client: httpx.Client | None = None):
        super().__init__(interval)
        self.database_url = database_url
        self.client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        self.owner = uuid.uuid4().hex
        self.sent = 0

    def step(self) -> None:
        self.sent += deliver_due(self.database_url, self.client, owner=self.owner)

    def stop(self) -> None:
        super().stop()
        self.client.close()
