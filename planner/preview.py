"""Preview: what one user gets at an instant, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from planner.access import Reason, access
from planner.membership import User, in_cohort, in_share
from planner.lifecycle import Controls
from planner.model import Plan


@dataclass(frozen=True)
class UserGrant:
    feature: str
    cohort: str
    reason: Reason


def user_access(plan: Plan, user: User, *, at: datetime, members: dict[str, frozenset[str]] | None = None,
                controls: Controls | None = None) -> dict[str, list[UserGrant]]:
    """Each feature `user` sees at `at`, with every cohort and phase that gives it to them."""
    members = members or {}
    belongs = {c.key for c in plan.cohorts
               if in_cohort(plan, c, user, members=members.get(c.key, frozenset()), at=at)}
    result: dict[str, list[UserGrant]] = {}
    for (cohort, feature), reason in sorted(access(plan, at=at, controls=controls).items()):
        share = reason.share_at(at)
        if cohort in belongs and (not reason.steps or in_share(plan, plan.cohort(cohort), user, share)):
            result.setdefault(feature, []).append(UserGrant(feature, cohort, reason))
    return result
