"""Where a plan stands at an instant: the phase running, and what comes next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from planner.lifecycle import Controls, control_of, effective_start, gate_shut, label, opens_at, planned_start
from planner.model import Plan


@dataclass(frozen=True)
class Milestone:
    at: datetime
    label: str


@dataclass(frozen=True)
class Standing:
    status: str  # "empty" | "not started" | "running" | "held" | "complete"
    current: str | None  # the name of the latest phase that has started and counts
    next: Milestone | None


def standing(plan: Plan, *, now: datetime, controls: Controls | None = None) -> Standing:
    if not plan.phases:
        return Standing("empty", None, None)
    controls = controls or {}
    opens = opens_at(plan, controls)
    started = [p for p in plan.phases if opens[p.key] is not None and opens[p.key] <= now
               and not control_of(controls, p.key).held]
    upcoming = [Milestone(opens[p.key], f"{label(p)} starts") for p in plan.phases
                if opens[p.key] is not None and opens[p.key] > now]
    # a phase waiting for its gate has no start yet in Unleash: its planned one, if the gate has opened by then
    upcoming += [Milestone(planned_start(p, controls), f"{label(p)} starts, once its gate opens") for p in plan.phases
                 if gate_shut(p, control_of(controls, p.key)) and not control_of(controls, p.key).state
                 and planned_start(p, controls) > now]
    upcoming += [Milestone(t.at, f"training: {t.topic}") for p in plan.phases for t in p.trainings if t.at > now]
    following = min(upcoming, key=lambda m: m.at) if upcoming else None
    current = label(max(started, key=lambda p: effective_start(p, controls))) if started else None
    held = any(control_of(controls, p.key).state for p in plan.phases)
    status = ("held" if held else "not started" if not started else
              "running" if any(effective_start(p, controls) > now for p in plan.phases) else "complete")
    return Standing(status, current, following)
