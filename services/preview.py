"""Preview: who sees which feature at an instant, and for one user what they get and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from planner.access import Reason, access
from planner.membership import User
from planner.db import session_scope
from planner.model import Plan
from planner.lifecycle import control_of, gate_shut, label, planned_start
from planner.phasecontrol import load_controls
from planner.preview import UserGrant, user_access
from planner.store import live_plan


@dataclass(frozen=True)
class Preview:
    plan: Plan
    at: datetime
    grid: dict[tuple[str, str], Reason]  # (cohort, feature) -> why it has access
    user: str | None = None
    user_result: dict[str, list[UserGrant]] | None = None  # feature -> the cohorts that give it to the user
    gated: tuple[str, ...] = ()  # the names of the phases started by then that still wait for their gate


def preview(*, database_url: str, key: str, at: datetime, user: str | None = None,
            properties: dict[str, str] | None = None) -> Preview:
    """The cohort × feature access of plan `key` at `at` as things stand (held and rolled-back phases give
    nothing); with `user`, also that user's features."""
    with session_scope(database_url) as session:
        row, plan = live_plan(session, key)
        controls = load_controls(session, row.id)
    grid = access(plan, at=at, controls=controls)
    gated = tuple(label(p) for p in plan.phases
                  if gate_shut(p, control_of(controls, p.key)) and planned_start(p, controls) <= at)
    if not user:
        return Preview(plan, at, grid, gated=gated)
    return Preview(plan, at, grid, user, user_access(plan, User(user, properties or {}), at=at, controls=controls),
                   gated=gated)
