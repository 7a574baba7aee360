"""The events the platform posts for a plan's KPIs (`POST /api/plans/{plan}/events`), checked one by one.

An event is `{"kpi", "user" (optional), "value" (default 1), "at", "idempotency_key"}`. A batch holds 1 to
`MAX_BATCH` events. Each bad event is reported by its position and field and stored nowhere; the good ones
of the same batch are stored (the platform can post a corrected batch again: the idempotency keys make the
good ones count once)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from planner.limits import instant_problem
from planner.model import Aggregation, KpiSource, Plan
from planner.userids import problem

MAX_BATCH = 1000
MAX_KEY = 200
FIELDS = {"kpi", "user", "value", "at", "idempotency_key"}
FUTURE = timedelta(minutes=5)  # clocks differ a little; an event from further ahead is refused


@dataclass(frozen=True)
class Refused:
    index: int
    field: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


def check_event(raw: Any, index: int, plan: Plan, *, now: datetime) -> dict[str, Any] | Refused:
    """The event as stored (kpi_key, user_id, value, at, idempotency_key), or why not, naming the field."""
    if not isinstance(raw, dict):
        return Refused(index, "(event)", "must be an object with kpi, value, at and idempotency_key")
    unknown = sorted(set(raw) - FIELDS, key=str)
    if unknown:
        return Refused(index, str(unknown[0])[:40], f"unknown field; an event has {', '.join(sorted(FIELDS))}")
    kpi_key = raw.get("kpi")
    kpi = next((k for k in plan.kpis if k.key == kpi_key), None) if isinstance(kpi_key, str) else None
    if kpi is None:
        return Refused(index, "kpi", "is not a KPI of this plan" if isinstance(kpi_key, str) else "name the KPI's key")
    if kpi.source is not KpiSource.event:
        return Refused(index, "kpi", f"'{kpi.key}' is a {kpi.source.value} KPI; only event KPIs take events")
    key = raw.get("idempotency_key")
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY or "\x00" in key:
        return Refused(index, "idempotency_key", f"give a unique text of 1 to {MAX_KEY} characters, the same on "
                                                 "every retry of this event")
    user = raw.get("user")
    if user is not None:
        wrong = problem(user) if isinstance(user, str) else "is not text"
        if wrong:
            return Refused(index, "user", f"the user id {wrong}")
    elif kpi.how in (Aggregation.distinct_users, Aggregation.share) or kpi.cohort:
        return Refused(index, "user", f"'{kpi.key}' counts users: name the user")
    value = raw.get("value", 1)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return Refused(index, "value", "must be a finite number")
    if value < 0:
        return Refused(index, "value", "must not be negative")
    if kpi.how is Aggregation.mean and kpi.scale and not kpi.scale[0] <= value <= kpi.scale[1]:
        return Refused(index, "value", f"must lie on the KPI's scale, {kpi.scale[0]:g} to {kpi.scale[1]:g}")
    at = raw.get("at")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        return Refused(index, "at", "must be an ISO 8601 time with its offset, e.g. 2026-12-01T09:30:00Z")
    outside = instant_problem(when)
    if outside:
        return Refused(index, "at", outside)
    if when > now + FUTURE:
        return Refused(index, "at", "lies in the future")
    return {"kpi_key": kpi.key, "user_id": user, "value": float(value), "at": when, "idempotency_key": key}


def check_batch(raw: Any, plan: Plan, *, now: datetime) -> tuple[list[dict[str, Any]], list[Refused]]:
    """One event (an object) or a batch (a list): the good events, and the refused ones by position."""
    events = raw if isinstance(raw, list) else [raw]
    good: list[dict[str, Any]] = []
    refused: list[Refused] = []
    for index, item in enumerate(events):
        checked = check_event(item, index, plan, now=now)
        (refused if isinstance(checked, Refused) else good).append(checked)
    return good, refused
