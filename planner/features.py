"""What one user has now and what is coming: the plan's explanation beside the real Unleash's answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from planner.access import access_starts
from planner.membership import User, in_cohort, in_share
from planner.lifecycle import Controls
from planner.model import Plan


@dataclass
class FeatureLine:
    plan: str
    feature: str
    flag: str
    name: str
    since: datetime  # when the user gets it
    planned_now: bool  # the plan gives it to the user at this moment
    reasons: list[str] = field(default_factory=list)
    unleash: bool | None = None  # what the real Unleash says now (None: not evaluated)

    @property
    def agrees(self) -> bool | None:
        return None if self.unleash is None else self.unleash == self.planned_now


def user_features(plan: Plan, user: User, *, now: datetime, members: dict[str, list[str]],
                  controls: Controls | None = None) -> list[FeatureLine]:
    """Every feature of `plan` the user has or will get, earliest access first, with cohort and phase."""
    belongs = {c.key for c in plan.cohorts
               if in_cohort(plan, c, user, members=frozenset(members.get(c.key, [])), at=now)}
    lines: dict[str, FeatureLine] = {}
    names = {f.key: f.name or f.key for f in plan.features}
    found = []
    for (cohort, feature), reason in access_starts(plan, controls).items():
        if cohort not in belongs:
            continue
        since = reason.since_for(lambda share, c=plan.cohort(cohort): in_share(plan, c, user, share))
        if since is not None:  # a ramp whose steps do not reach the user gives nothing
            found.append((since, cohort, feature, reason))
    for since, cohort, feature, reason in sorted(found, key=lambda f: f[0]):
        line = lines.get(feature)
        if line is None:
            line = lines[feature] = FeatureLine(plan.key, feature, plan.flag_name(feature), names[feature],
                                                since, since <= now)
        if line.planned_now and since > now:
            continue  # a later way to the same feature is no reason for having it today
        line.reasons.append(f"cohort '{cohort}', {reason.describe()}")
    return sorted(lines.values(), key=lambda line: line.since)
