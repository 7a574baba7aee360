"""Where a plan stands at an instant: the phase running, and what comes next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from planner.model import Plan


@dataclass(frozen=True)
class Milestone:
    at: datetime
    label: str


@dataclass(frozen=True)
class Standing:
    status: str  # "empty" | "not started" | "running" | "complete"
    current: str | None  # the latest phase that has started and counts
    next: Milestone | None


def standing(plan: Plan, *, now: datetime) -> Standing:
    if not plan.phases:
        return Standing("empty", None, None)
    started = [p for p in plan.phases if p.starts <= now and p.status.grants_access]
    upcoming = [Milestone(p.starts, f"phase '{p.name or p.key}' starts") for p in plan.phases if p.starts > now]
    upcoming += [Milestone(t.at, f"training: {t.topic}") for p in plan.phases for t in p.trainings if t.at > now]
    following = min(upcoming, key=lambda m: m.at) if upcoming else None
    current = max(started, key=lambda p: p.starts).key if started else None
    status = "not started" if not started else ("running" if any(p.starts > now for p in plan.phases) else "complete")
    return Standing(status, current, following)
