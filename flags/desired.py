"""The Unleash state a plan asks for, computed purely from the plan and its phases' controls (DESIGN.md §4).

One flag per feature; one segment per cohort (several for a large user list, each within the server's
limits); one segment per phase, `rp:<plan>:phase:<key>`, true from the phase's start (`currentTime
DATE_AFTER`), or never while the phase is held or rolled back; one `flexibleRollout` strategy per cohort
(part) × feature that the cohort ever sees, carrying the cohort's segment, the segments of the phases
that admitted the cohort and enabled the feature (segments AND together: access starts at the later
one), and the cohort's percentage with a per-cohort groupId.

Strategies are written ahead of time, so the SDKs switch at a phase's start even when the planner is
down; moving, holding, resuming or rolling back a phase is one segment write, whatever the plan's size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flags.limits import ResourceLimits
from planner.access import access_sources
from planner.lifecycle import Controls, control_of, gate_shut, label, opens_at, ramp_steps
from planner.membership import group_id, rollout
from planner.errors import PlanUnwritable
from planner.model import MULTI_VALUED, Cohort, CohortKind, Phase, Plan, Rule

OWNER_PREFIX = "rp"
PHASE = "phase"  # `rp:<plan>:phase:<key>`; no cohort may be called so (planner.validation)
# A phase held or rolled back: `currentTime` is never before 2000 (Unleash's DATE_BEFORE is strict)
NEVER = {"contextName": "currentTime", "operator": "DATE_BEFORE", "value": "2000-01-01T00:00:00.000Z",
         "inverted": False, "caseInsensitive": False}
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
    segments: tuple[str, ...]  # the cohort's segment (none for `everyone`), then the phases' segments
    constraints: tuple[dict[str, Any], ...] = ()

    @property
    def cohort_segment(self) -> str | None:
        return next((name for name in self.segments if owned_phase_name(name) is None), None)

    def body(self, segment_ids: dict[str, int]) -> dict[str, Any]:
        return {
            "name": "flexibleRollout", "title": self.title, "disabled": False,
            "parameters": {"rollout": str(self.rollout), "stickiness": "default", "groupId": self.group_id},
            "constraints": [dict(c) for c in self.constraints],
            "segments": [segment_ids[name] for name in self.segments],
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
    for a name that is not the plan's or is a phase's."""
    if not is_owned_name(plan_key, name):
        return None
    cohort = name[len(f"{OWNER_PREFIX}:{plan_key}:"):].split(":", 1)[0]
    return None if cohort == PHASE else cohort


def phase_segment_name(plan_key: str, phase_key: str) -> str:
    return f"{OWNER_PREFIX}:{plan_key}:{PHASE}:{phase_key}"


def ramp_step_segment_name(plan_key: str, phase_key: str, cohort_key: str, step: int) -> str:
    """The segment of a ramp's step (`step` from 2; the first step is the phase's own segment)."""
    return f"{phase_segment_name(plan_key, phase_key)}:{cohort_key}:step-{step}"


def owned_phase_name(name: str | None) -> str | None:
    """The phase key of a phase segment's name (`rp:<plan>:phase:<key>`, or a ramp step's
    `rp:<plan>:phase:<key>:<cohort>:step-<n>`), of any plan; None for other names."""
    parts = (name or "").split(":")
    if len(parts) == 6 and not parts[5].startswith("step-"):
        return None
    return parts[3] if len(parts) in (4, 6) and parts[0] == OWNER_PREFIX and parts[2] == PHASE else None


def owned_phase(plan_key: str, name: str | None) -> str | None:
    """The phase of this plan a segment name belongs to, or None."""
    return owned_phase_name(name) if is_owned_name(plan_key, name) else None


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


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def phase_segment(plan: Plan, phase: Phase, controls: Controls, opens: datetime | None) -> SegmentSpec:
    """The segment of one phase: true from its start, or never while it is held or rolled back."""
    control = control_of(controls, phase.key)
    about = (f"Managed by the rollout planner: plan '{plan.key}', phase '{label(phase)}'. "
             "Edits are undone by the next sync.")
    if opens is None and not control.state and gate_shut(phase, control):
        state = (f"Waits for its gate ({', '.join(phase.gate)}): gives nothing until the planner finds that the "
                 "gate passed, or a lead overrides it.")
        return SegmentSpec(phase_segment_name(plan.key, phase.key), f"{about} {state}"[:1000], (NEVER,))
    if opens is None:
        what = "rolled back" if control.rolled_back else "held"
        when = f" on {_utc(control.since)}" if control.since else ""
        by = f" by {control.actor}" if control.actor else ""
        why = f": {control.reason}" if control.reason else ""
        state = f"{what.capitalize()}{by}{when}{why}. Gives nothing until resumed."
        return SegmentSpec(phase_segment_name(plan.key, phase.key), f"{about} {state}"[:1000], (NEVER,))
    state = f"Starts {_utc(opens)}." if not control.held else f"Held{' by ' + control.actor if control.actor else ''}: keeps what it gave since {_utc(opens)}, widens no further."
    return SegmentSpec(phase_segment_name(plan.key, phase.key), f"{about} {state}"[:1000], (starts_constraint(opens),))


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


def _steps(plan: Plan, source, pair_cohort: str, phases: tuple[str, ...], steps) -> list[tuple[str, tuple[str, ...], int]]:
    """A pair's strategies: one (no ramp), or one per ramp step, each with its step's segment in place of the
    admitting phase's (title suffix, segments, share in percent). The first step (at the phase's start) keeps
    the plain title and the phase's own segment, so adding a ramp rewrites a strategy rather than adding one."""
    if not steps:
        return [("", phases, 100)]
    admit, rest = phases[0], phases[1:]  # rest: the enabling phase's segment, when another phase enabled it
    cohort = pair_cohort
    return [("" if n == 1 else f":step-{n}",
             (admit if n == 1 else ramp_step_segment_name(plan.key, source.admitted_by, cohort, n), *rest), percent)
            for n, (_at, percent) in enumerate(steps, start=1)]


def desired_state(plan: Plan, *, members: dict[str, list[str]] | None = None, limits: ResourceLimits = ResourceLimits(),
                  controls: Controls | None = None) -> DesiredState:
    """Everything the plan needs in Unleash. `members` are opt-in cohort members, in join order; `controls`
    what leads did to its phases (planner/lifecycle.py)."""
    members, controls = members or {}, controls or {}
    state = DesiredState(plan.key, plan.unleash.project, plan.unleash.environment)
    segments_of: dict[str, list[SegmentSpec]] = {}
    for cohort in plan.cohorts:
        segments_of[cohort.key] = cohort_segments(plan, cohort, members.get(cohort.key, []), limits)
        state.segments.update((s.name, s) for s in segments_of[cohort.key])
    opens = opens_at(plan, controls)
    ramps = ramp_steps(plan, controls)
    for phase in plan.phases:
        segment = phase_segment(plan, phase, controls, opens[phase.key])
        state.segments[segment.name] = segment
        for ramp in phase.ramps:
            for n, (at, percent) in enumerate(ramps[(phase.key, ramp.cohort)], start=1):
                if n == 1:
                    continue  # the first step, at the phase's start, is the phase's own segment
                name = ramp_step_segment_name(plan.key, phase.key, ramp.cohort, n)
                about = (f"Managed by the rollout planner: plan '{plan.key}', phase '{label(phase)}', ramp of "
                         f"cohort '{ramp.cohort}', step {n}: {percent} %. Edits are undone by the next sync.")
                state.segments[name] = SegmentSpec(name, about, (starts_constraint(at),) if at else (NEVER,))
    if len(state.segments) > limits.segments:
        raise DesiredStateError(f"the plan needs {len(state.segments)} segments (one per phase, and one per cohort or "
                                f"part of a large cohort); the server allows {limits.segments}")

    sources = access_sources(plan, controls)
    for feature in plan.features:
        flag = plan.flag_name(feature.key)
        for cohort in plan.cohorts:
            source = sources.get((cohort.key, feature.key))
            if source is None:
                continue
            phases = tuple(phase_segment_name(plan.key, key) for key in source.phases)
            if len(phases) + (cohort.kind is not CohortKind.everyone) > limits.strategy_segments:
                raise DesiredStateError(f"the server allows {limits.strategy_segments} segments per strategy; "
                                        f"the planner needs {len(phases) + 1}. Raise UNLEASH_STRATEGY_SEGMENTS_LIMIT")
            steps = [] if source.preview else ramps.get((source.admitted_by, cohort.key), [])
            for n, (title_suffix, step_segments, share) in enumerate(_steps(plan, source, cohort.key, phases, steps), start=1):
                common = {"flag": flag, "rollout": rollout(cohort, share), "group_id": group_id(plan, cohort)}
                if cohort.kind is CohortKind.everyone:
                    title = owned_name(plan.key, cohort.key) + title_suffix
                    state.strategies[(flag, title)] = StrategySpec(title=title, segments=step_segments, **common)
                for segment in segments_of[cohort.key]:
                    title = segment.name + title_suffix
                    state.strategies[(flag, title)] = StrategySpec(title=title, segments=(segment.name, *step_segments),
                                                                   **common)
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

