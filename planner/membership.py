"""Who belongs to a cohort: rule evaluation and the sticky percentage, as Unleash computes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import mmh3
import semver

from planner.model import Cohort, CohortKind, Operator, Plan, Rule

# Context fields Unleash keeps at the top level of its context; everything else is a custom property.
STANDARD_FIELDS = frozenset({"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"})


@dataclass(frozen=True)
class User:
    """A user as the platform describes them to Unleash: an id and context properties."""

    id: str
    properties: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        if name == "userId":
            return self.id
        return self.properties.get(name)


def group_id(plan: Plan, cohort: Cohort) -> str:
    """The stickiness group of a cohort's percentage: one per plan and cohort, shared by all its flags,
    so that the same users fall inside the percentage on every feature."""
    return f"{plan.key}.{cohort.key}"


def bucket(group: str, user_id: str) -> int:
    """Unleash's normalised hash (1..100) of a user in a stickiness group."""
    return mmh3.hash(f"{group}:{user_id}", 0, signed=False) % 100 + 1


def rollout(cohort: Cohort, share: int = 100) -> int:
    """The flexibleRollout percentage of a cohort at a ramp's `share` (its own percentage scaled; at least 1)."""
    return max(1, round((cohort.percentage or 100) * share / 100))


def in_share(plan: Plan, cohort: Cohort, user: User, share: int) -> bool:
    """Whether the user is in `share` percent of the cohort (the same users at every share, and more of them
    at a larger one: Unleash's stickiness on the cohort's groupId)."""
    return bucket(group_id(plan, cohort), user.id) <= rollout(cohort, share)


def in_percentage(plan: Plan, cohort: Cohort, user: User) -> bool:
    if cohort.percentage is None:
        return True
    return bucket(group_id(plan, cohort), user.id) <= cohort.percentage


def _compare_number(op: Operator, actual: float, wanted: float) -> bool:
    return {
        Operator.NUM_EQ: actual == wanted,
        Operator.NUM_GT: actual > wanted,
        Operator.NUM_GTE: actual >= wanted,
        Operator.NUM_LT: actual < wanted,
        Operator.NUM_LTE: actual <= wanted,
    }[op]


def _matches(rule: Rule, actual: str | None) -> bool:
    op = rule.operator
    if op is Operator.IN:
        return actual is not None and actual in rule.values
    if op is Operator.NOT_IN:
        return actual is None or actual not in rule.values
    if actual is None:
        return False
    if op in (Operator.STR_CONTAINS, Operator.STR_STARTS_WITH, Operator.STR_ENDS_WITH):
        values = rule.values
        if rule.case_insensitive:
            actual, values = actual.lower(), tuple(v.lower() for v in values)
        test = {
            Operator.STR_CONTAINS: lambda v: v in actual,
            Operator.STR_STARTS_WITH: actual.startswith,
            Operator.STR_ENDS_WITH: actual.endswith,
        }[op]
        return any(test(v) for v in values)
    wanted = rule.values[0]
    try:
        if op.name.startswith("NUM_"):
            return _compare_number(op, float(actual), float(wanted))
        if op.name.startswith("DATE_"):
            left, right = datetime.fromisoformat(actual), datetime.fromisoformat(wanted)
            return left > right if op is Operator.DATE_AFTER else left < right
        left_v, right_v = semver.Version.parse(actual), semver.Version.parse(wanted)
        return {Operator.SEMVER_EQ: left_v == right_v, Operator.SEMVER_GT: left_v > right_v,
                Operator.SEMVER_LT: left_v < right_v}[op]
    except ValueError:
        return False


def rule_holds(rule: Rule, user: User, *, at: datetime | None = None) -> bool:
    actual = at.isoformat() if rule.property == "currentTime" and at is not None else user.value(rule.property)
    result = _matches(rule, actual)
    return not result if rule.inverted else result


def in_cohort(plan: Plan, cohort: Cohort, user: User, *, members: frozenset[str] = frozenset(),
              at: datetime | None = None) -> bool:
    """Whether `user` belongs to `cohort`; `members` are the opt-in members (kept in the database)."""
    if cohort.kind is CohortKind.everyone:
        inside = True
    elif cohort.kind is CohortKind.list:
        inside = user.id in cohort.users
    elif cohort.kind is CohortKind.opt_in:
        inside = user.id in members
    else:
        inside = all(rule_holds(rule, user, at=at) for rule in cohort.rules)
    return inside and in_percentage(plan, cohort, user)
