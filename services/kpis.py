"""KPI data coming in: the platform's events, the values leads enter, and the served counts copied from Unleash
(services/dashboard.py shows what they add up to)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flags.metrics import served_hours
from planner import audit
from planner.db import session_scope
from planner.errors import InputInvalid
from planner.kpidata import record_value, store_events, store_served
from planner.kpis import number
from planner.kpievents import MAX_BATCH, Refused, check_batch
from planner.limits import instant_problem
from planner.model import KpiSource
from planner.store import live_plan
from planner.tables import KpiValueRow

NOTE_CHARS = 500


@dataclass(frozen=True)
class Ingested:
    stored: int
    duplicates: int
    refused: list[Refused]

    def as_json(self) -> dict[str, Any]:
        return {"stored": self.stored, "duplicates": self.duplicates, "refused": [r.as_json() for r in self.refused]}


def ingest(*, database_url: str, key: str, payload: Any, now: datetime | None = None) -> Ingested:
    """Store the good events of one event or a batch (at most MAX_BATCH); report the refused ones by position.
    An event posted again (same idempotency key) counts once."""
    now = now or datetime.now(UTC)
    if isinstance(payload, list) and not 1 <= len(payload) <= MAX_BATCH:
        raise InputInvalid("events", f"a batch holds 1 to {MAX_BATCH} events, this one {len(payload)}")
    with session_scope(database_url) as session:
        row, plan = live_plan(session, key)
        good, refused = check_batch(payload, plan, now=now)
        stored, duplicates = store_events(session, row.id, good)
    return Ingested(stored, duplicates, refused)


def enter_value(*, database_url: str, key: str, kpi: str, value: float, at: datetime, actor: str, note: str = "",
                sample: int | None = None) -> KpiValueRow:
    """A lead enters a manual KPI's value (a survey result, say), with its date, a note and the sample size."""
    with session_scope(database_url, serial=True) as session:
        row, plan = live_plan(session, key)
        found = next((k for k in plan.kpis if k.key == kpi), None)
        if found is None:
            raise InputInvalid("kpi", f"plan '{key}' has no KPI '{kpi}'")
        if found.source is not KpiSource.manual:
            raise InputInvalid("kpi", f"'{found.name or kpi}' is a {found.source.value} KPI: its data comes by itself")
        if value != value or value in (float("inf"), float("-inf")):
            raise InputInvalid("value", "must be a finite number")
        if at.tzinfo is None:
            raise InputInvalid("at", "needs a timezone")
        if instant_problem(at):
            raise InputInvalid("at", instant_problem(at))
        if at > datetime.now(UTC) + timedelta(minutes=5):
            raise InputInvalid("at", "a measured value is dated today or earlier")
        if sample is not None and sample < 1:
            raise InputInvalid("sample", "must be at least 1")
        note = " ".join((note or "").split())
        if len(note) > NOTE_CHARS:
            raise InputInvalid("note", f"is {len(note)} characters long; at most {NOTE_CHARS}")
        entered = record_value(session, row.id, kpi, value=value, at=at, note=note, actor=actor, sample=sample)
        audit.record(session, action="kpi.value", actor=actor, plan_id=row.id,
                     summary=f"{found.name or kpi}: {number(value)}{' ' + found.unit if found.unit else ''} "
                             f"entered for {at.astimezone(UTC):%Y-%m-%d}" + (f" ({note})" if note else ""),
                     detail={"kpi": kpi, "value": value, "at": at.isoformat(), "sample": sample})
        return entered


def copy_served(*, database_url: str, admin, key: str) -> int:
    """Copy the hourly served counts of the plan's flags from Unleash's metrics into the database (Unleash
    keeps only recent hours). Returns how many hours changed."""
    with session_scope(database_url) as session:
        _row, plan = live_plan(session, key)
    hours = [hour for feature in plan.features for hour in served_hours(admin, plan.flag_name(feature.key))]
    with session_scope(database_url, serial=True) as session:
        return store_served(session, hours)
