"""The Unleash state a plan asks for, computed purely from the plan (DESIGN.md §4).

One flag per feature; one segment per cohort (several for a large user list, each within the
server's limits); one `flexibleRollout` strategy per cohort × feature that the cohort ever sees,
carrying the cohort's segment, its percentage with a per-cohort groupId, and a `currentTime`
constraint for the instant access begins. Strategies are written ahead of time, so the SDKs switch
at a phase's start even when the planner is down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flags.limits import ResourceLimits
from planner.access import access_starts
from planner.membership import group_id
from planner.errors import PlanUnwritable
from planner.model import MULTI_VALUED, Cohort, CohortKind, Plan, Rule

OWNER_PREFIX = "rp"
# Unleash refuses request bodies over 100 kB; keep each segment well inside it.
MAX_SEGMENT_BODY_BYTES = 80_000


class DesiredStateError(PlanUnwritable):
    """The plan cannot be written within the server's limits; the message says what to change."""


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    description: str
    constraints: tuple[dict[str, Any], ...]

    def body(self, project: str) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "project": project,
                "constraints": [dict(c) for c in self.constraints]}


@dataclass(frozen=True)
class StrategySpec:
    flag: str
    title: str
    rollout: int
    group_id: str
    segment: str | None
    constraints: tuple[dict[str, Any], ...]

    def body(self, segment_ids: dict[str, int]) -> dict[str, Any]:
        return {
            "name": "flexibleRollout", "title": self.title, "disabled": False,
            "parameters": {"rollout": str(self.rollout), "stickiness": "default", "groupId": self.group_id},
            "constraints": [dict(c) for c in self.constraints],
            "segments": [segment_ids[self.segment]] if self.segment else [],
        }


@dataclass(frozen=True)
class FlagSpec:
    name: str
    description: str
    enabled: bool
    plan: str = ""


@dataclass
class DesiredState:
    plan: str
    project: str
    environment: str
    flags: dict[str, FlagSpec] = field(default_factory=dict)
    strategies: dict[tuple[str, str], StrategySpec] = field(default_factory=dict)
    segments: dict[str, SegmentSpec] = field(default_factory=dict)

    @property
    def marker(self) -> str:
        return flag_marker(self.plan)


def flag_marker(plan_key: str) -> str:
    """The line in a flag's description that says which plan owns it."""
    return f"[managed by rollout planner: {plan_key}]"


def owned_name(plan_key: str, cohort_key: str, part: int | None = None) -> str:
    base = f"{OWNER_PREFIX}:{plan_key}:{cohort_key}"
    return base if part is None else f"{base}:{part}"


def is_owned_name(plan_key: str, name: str | None) -> bool:
    return bool(name) and name.startswith(f"{OWNER_PREFIX}:{plan_key}:")


def owned_cohort(plan_key: str, name: str | None) -> str | None:
    """The cohort a segment or strategy title of this plan belongs to (`rp:<plan>:<cohort>[:<part>]`), or None
    for a name that is not the plan's."""
    if not is_owned_name(plan_key, name):
        return None
    return name[len(f"{OWNER_PREFIX}:{plan_key}:"):].split(":", 1)[0]


def constraint(context_name: str, operator: str, values: list[str], *, inverted: bool = False,
               case_insensitive: bool = False) -> dict[str, Any]:
    """A constraint as Unleash stores it: single-value operators use `value`, the rest `values`."""
    multi = operator in MULTI_VALUED
    shown = {"values": sorted(values)} if multi else {"value": values[0]}
    return {"contextName": context_name, "operator": operator, **shown, "inverted": inverted,
            "caseInsensitive": case_insensitive}


def starts_constraint(starts: datetime) -> dict[str, Any]:
    """`currentTime` after one millisecond before the start: Unleash's DATE_AFTER is strict, the rule is not."""
    instant = (starts - timedelta(milliseconds=1)).astimezone(UTC)
    return constraint("currentTime", "DATE_AFTER", [instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")])


def _rule_constraint(rule: Rule) -> dict[str, Any]:
    return constraint(rule.property, rule.operator.value, list(rule.values), inverted=rule.inverted,
                      case_insensitive=rule.case_insensitive)


def _chunks(users: list[str], limits: ResourceLimits) -> list[list[str]]:
    """Split user ids into groups that fit one constraint, one segment and one request body each."""
    size = min(limits.constraint_values, limits.segment_values)
    chunks: list[list[str]] = [[]]
    used = 0
    for user in users:
        cost = len(json.dumps(user)) + 1
        if len(chunks[-1]) >= size or used + cost > MAX_SEGMENT_BODY_BYTES:
            chunks.append([])
            used = 0
        chunks[-1].append(user)
        used += cost
    return chunks


def cohort_segments(plan: Plan, cohort: Cohort, members: list[str], limits: ResourceLimits) -> list[SegmentSpec]:
    """The segments of one cohort; none for `everyone` (its strategies need none) or for a cohort without users."""
    if cohort.kind is CohortKind.everyone:
        return []
    about = f"Managed by the rollout planner: plan '{plan.key}', cohort '{cohort.key}'. Edits are undone by the next sync."
    if cohort.kind is CohortKind.attribute:
        constraints = tuple(_rule_constraint(r) for r in cohort.rules)
        for i, c in enumerate(constraints):
            if len(c.get("values", ())) > limits.constraint_values:
                raise DesiredStateError(f"cohort '{cohort.key}' rule {i + 1} has {len(c['values'])} values; the "
                                        f"server allows {limits.constraint_values} per constraint")
        if sum(len(c.get("values", ())) or 1 for c in constraints) > limits.segment_values:
            raise DesiredStateError(f"cohort '{cohort.key}' has more rule values than the server allows in a "
                                    f"segment ({limits.segment_values})")
        if len(constraints) > limits.constraints:
            raise DesiredStateError(f"cohort '{cohort.key}' has {len(constraints)} rules; the server allows "
                                    f"{limits.constraints}")
        return [SegmentSpec(owned_name(plan.key, cohort.key, 1), about, constraints)]
    users = list(cohort.users) if cohort.kind is CohortKind.list else list(members)
    if not users:
        # Unleash refuses an IN constraint without values; a cohort nobody is in needs no strategies
        return []
    chunks = _chunks(users, limits)
    # "part n" without "of N": a new part must not rewrite every other segment
    return [SegmentSpec(owned_name(plan.key, cohort.key, n), f"{about} Part {n}.",
                        (constraint("userId", "IN", chunk),))
            for n, chunk in enumerate(chunks, start=1)]


def desired_state(plan: Plan, *, members: dict[str, list[str]] | None = None, limits: ResourceLimits = ResourceLimits()) -> DesiredState:
    """Everything the plan needs in Unleash. `members` are opt-in cohort members, in join order."""
    members = members or {}
    state = DesiredState(plan.key, plan.unleash.project, plan.unleash.environment)
    segments_of: dict[str, list[SegmentSpec]] = {}
    for cohort in plan.cohorts:
        segments_of[cohort.key] = cohort_segments(plan, cohort, members.get(cohort.key, []), limits)
        state.segments.update((s.name, s) for s in segments_of[cohort.key])
    if len(state.segments) > limits.segments:
        raise DesiredStateError(f"the plan needs {len(state.segments)} segments; the server allows {limits.segments}")

    starts = access_starts(plan)
    for feature in plan.features:
        flag = plan.flag_name(feature.key)
        for cohort in plan.cohorts:
            reason = starts.get((cohort.key, feature.key))
            if reason is None:
                continue
            common = {"flag": flag, "rollout": cohort.percentage or 100, "group_id": group_id(plan, cohort),
                      "constraints": (starts_constraint(reason.starts),)}
            if cohort.kind is CohortKind.everyone:
                title = owned_name(plan.key, cohort.key)
                state.strategies[(flag, title)] = StrategySpec(title=title, segment=None, **common)
            for segment in segments_of[cohort.key]:
                state.strategies[(flag, segment.name)] = StrategySpec(title=segment.name, segment=segment.name, **common)
        count = sum(1 for (f, _t) in state.strategies if f == flag)
        if count > limits.feature_environment_strategies:
            raise DesiredStateError(
                f"feature '{feature.key}' needs {count} strategies (one per cohort, and one per "
                f"{min(limits.constraint_values, limits.segment_values)} users of a list or opt-in cohort); the "
                f"server allows {limits.feature_environment_strategies}. Raise the server's "
                "UNLEASH_FEATURE_ENVIRONMENT_STRATEGIES_LIMIT / UNLEASH_CONSTRAINT_VALUES_LIMIT, or use fewer cohorts")
        description = "\n\n".join(p for p in (feature.name, feature.description, state.marker) if p)
        state.flags[flag] = FlagSpec(flag, description, enabled=count > 0, plan=plan.key)
    if len(state.flags) > limits.feature_flags:
        raise DesiredStateError(f"the plan has {len(state.flags)} features; the server allows {limits.feature_flags}")
    return state

