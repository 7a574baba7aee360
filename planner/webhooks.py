"""Webhooks of a plan: who is told what, and the outbox of deliveries.

An event is written to the outbox in the same transaction as the change it reports (a phase held, a sync
failed …), one delivery per webhook of the plan: nothing is lost across a restart, and nothing is told that
did not happen. services/webhooks.py sends them, signed, with retries.

The body is JSON: `{"id", "event", "plan", "at", "data"}`; the `id` is the same on every retry (receivers
drop repeats). The signature header is `X-Planner-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with the webhook's secret>` (see `signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, update
from sqlmodel import Session, select

from planner.errors import InputInvalid, NotFound
from planner.tables import WebhookDeliveryRow, WebhookRow, utcnow

EVENTS = ("phase.scheduled", "phase.started", "phase.held", "phase.resumed", "phase.rolled_back",
          "phase.completed", "phase.gated", "gate.verdict_changed", "sync.failed", "drift.found",
          "approval.requested", "waitlist.moved_up")
MAX_ATTEMPTS = 12  # 2 s, 4 s, … about 2 hours in all, then the delivery is given up (and shown so)
MAX_BACKOFF = timedelta(hours=1)
CLAIM = timedelta(seconds=60)  # a sender holds a delivery this long while it posts


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Planner-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: the signature matches and is at most `tolerance` seconds old."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: 2 s, 4 s, 8 s … at most an hour."""
    return min(timedelta(seconds=2 ** attempts), MAX_BACKOFF)


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputInvalid("url", "must be an http:// or https:// address, e.g. https://platform.example/hooks")
    if len(url) > 2000:
        raise InputInvalid("url", "must be at most 2,000 characters")
    if parts.username or parts.password:
        raise InputInvalid("url", "must not carry a user name or password (the secret signs each delivery)")
    return url


def add_webhook(session: Session, *, plan_id: int, url: str, actor: str) -> tuple[WebhookRow, str]:
    """A new webhook and its secret (shown once; the planner needs it to sign, so it keeps it)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = WebhookRow(plan_id=plan_id, url=check_url(url), secret=secret, created_by=actor)
    session.add(row)
    session.flush()
    return row, secret


def webhooks(session: Session, plan_id: int) -> list[WebhookRow]:
    return list(session.exec(select(WebhookRow).where(WebhookRow.plan_id == plan_id).order_by(WebhookRow.id)))


def remove_webhook(session: Session, *, plan_id: int, webhook_id: int) -> WebhookRow:
    row = session.get(WebhookRow, webhook_id)
    if row is None or row.plan_id != plan_id:
        raise NotFound(f"no webhook {webhook_id} in this plan")
    session.delete(row)
    return row


def enqueue(session: Session, *, plan_id: int, plan_key: str, event: str, data: dict[str, Any],
            at: datetime | None = None) -> int:
    """One delivery of `event` per webhook of the plan, in the caller's transaction; the number queued."""
    assert event in EVENTS, event
    at = at or utcnow()
    hooks = session.exec(select(WebhookRow.id).where(WebhookRow.plan_id == plan_id)).all()
    if not hooks:
        return 0
    body = json.dumps({"id": uuid.uuid4().hex, "event": event, "plan": plan_key,
                       "at": at.isoformat(timespec="seconds"), "data": data}, sort_keys=True)
    session.add_all(WebhookDeliveryRow(webhook_id=hook, event=event, body=body, next_attempt_at=at) for hook in hooks)
    return len(hooks)


def claim_due(session: Session, *, owner: str, now: datetime | None = None, limit: int = 20) -> list[int]:
    """Deliveries due now that no other sender holds, each claimed in a compare-and-set UPDATE."""
    now = now or utcnow()
    due = session.exec(select(WebhookDeliveryRow.id)
                       .where(WebhookDeliveryRow.state == "pending", WebhookDeliveryRow.next_attempt_at <= now,
                              or_(WebhookDeliveryRow.claimed_until.is_(None), WebhookDeliveryRow.claimed_until < now))
                       .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id).limit(limit)).all()
    claimed = []
    for delivery_id in due:
        taken = session.exec(update(WebhookDeliveryRow)
                             .where(WebhookDeliveryRow.id == delivery_id,
                                    or_(WebhookDeliveryRow.claimed_until.is_(None),
                                        WebhookDeliveryRow.claimed_until < now))
                             .values(claimed_until=now + CLAIM, claimed_by=owner)).rowcount
        if taken:
            claimed.append(delivery_id)
    return claimed


def release(session: Session, delivery_ids: list[int], *, owner: str) -> None:
    """Give claimed deliveries back unposted, due as they were: the next round of any sender takes them."""
    if delivery_ids:
        session.exec(update(WebhookDeliveryRow)
                     .where(WebhookDeliveryRow.id.in_(delivery_ids), WebhookDeliveryRow.claimed_by == owner)
                     .values(claimed_until=None, claimed_by=""))


def record_attempt(session: Session, delivery_id: int, *, owner: str, status: int | None, error: str | None,
                   now: datetime | None = None) -> WebhookDeliveryRow | None:
    """The outcome of one post: delivered on a 2xx; else retried after `backoff`, or given up."""
    now = now or utcnow()
    row = session.get(WebhookDeliveryRow, delivery_id)
    if row is None or row.claimed_by != owner:
        return None
    row.attempts += 1
    row.last_status, row.last_error, row.claimed_until, row.last_attempt_at = status, error, None, now
    if status is not None and 200 <= status < 300:
        row.state, row.delivered_at = "delivered", now
    elif row.attempts >= MAX_ATTEMPTS:
        row.state = "failed"
    else:
        row.next_attempt_at = now + backoff(row.attempts)
    session.add(row)
    return row


def deliveries(session: Session, plan_id: int, limit: int = 20) -> list[tuple[WebhookDeliveryRow, WebhookRow]]:
    return list(session.exec(select(WebhookDeliveryRow, WebhookRow)
                             .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
                             .where(WebhookRow.plan_id == plan_id)
                             .order_by(WebhookDeliveryRow.id.desc()).limit(limit)))
