"""The access rule: which cohorts see which features at an instant, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from planner.lifecycle import Controls, control_of, effective_start, in_start_order, opens_at, ramp_steps
from planner.model import Phase, Plan


@dataclass(frozen=True)
class Reason:
    """Why a cohort sees a feature: the phase that admitted the cohort and the one that enabled the feature.

    For a preview grant both are the granting phase.
    """

    starts: datetime
    admitted_by: str
    enabled_by: str
    preview: bool = False
    # a ramp: from when which share of the cohort (in percent) is admitted; empty: all of it at `starts`
    steps: tuple[tuple[datetime, int], ...] = ()

    def share_at(self, at: datetime) -> int | None:
        """The percentage of the cohort that has access at `at` (100 without a ramp); None before `starts`."""
        if at < self.starts:
            return None
        if not self.steps:
            return 100
        reached = [percent for instant, percent in self.steps if max(instant, self.starts) <= at]
        return reached[-1] if reached else None

    def describe(self, plan: Plan | None = None) -> str:
        """In words; with the plan, phases by their names (“Wave 1”), else by key ('wave-1', the API's)."""
        def phase(key: str) -> str:
            return f"“{plan.phase(key).name or key}”" if plan is not None else f"'{key}'"

        if self.preview:
            return f"preview granted by phase {phase(self.enabled_by)}"
        ramp = ""
        if self.steps:
            ramp = " (in steps: " + ", ".join(f"{p} % from {max(at, self.starts).strftime('%d %b %Y %H:%M')} UTC"
                                             for at, p in self.steps) + ")"
        if self.admitted_by == self.enabled_by:
            return f"phase {phase(self.admitted_by)}{ramp}"
        return f"admitted by phase {phase(self.admitted_by)}{ramp}, feature enabled by phase {phase(self.enabled_by)}"

    def since_for(self, in_share) -> datetime | None:
        """When a user gets access: `starts`, or with a ramp the first step whose share holds them
        (`in_share(percent)`); None when no step does."""
        if not self.steps:
            return self.starts
        return next((max(at, self.starts) for at, percent in self.steps if in_share(percent)), None)


Pair = tuple[str, str]  # (cohort key, feature key)


@dataclass(frozen=True)
class Source:
    """The phases a cohort's access to a feature comes from: the one that admitted the cohort and the one
    that enabled the feature (the same phase for a preview grant). Each (cohort, feature) strategy in Unleash
    carries both phases' segments, so that the access starts at the later one and a hold or roll back of
    either is one segment write."""

    admitted_by: str
    enabled_by: str
    preview: bool = False

    @property
    def phases(self) -> tuple[str, ...]:
        return (self.admitted_by,) if self.admitted_by == self.enabled_by else (self.admitted_by, self.enabled_by)


def _earliest(phases: list[Phase], pick) -> dict[str, Phase]:
    """For each key that `pick(phase)` yields, the first phase (of `phases`, in order) that yields it."""
    first: dict[str, Phase] = {}
    for phase in phases:
        for key in pick(phase):
            first.setdefault(key, phase)
    return first


def _sources_of(phases: list[Phase], starts: dict[str, datetime]) -> dict[Pair, Source]:
    admitted = _earliest(phases, lambda p: p.cohorts)
    enabled = _earliest(phases, lambda p: p.features)
    result: dict[Pair, Source] = {}
    for cohort, admit in admitted.items():
        for feature, enable in enabled.items():
            result[(cohort, feature)] = Source(admit.key, enable.key)
    for phase in phases:
        for grant in phase.grants:
            for cohort in grant.cohorts:
                pair = (cohort, grant.feature)
                current = result.get(pair)
                if current is None or starts[phase.key] < max(starts[k] for k in current.phases):
                    result[pair] = Source(phase.key, phase.key, preview=True)
    return result


def access_sources(plan: Plan, controls: Controls | None = None) -> dict[Pair, Source]:
    """Every (cohort, feature) pair the plan ever gives, with the phases it comes from.

    A phase that was rolled back is passed over where another phase gives the same pair, so that the pair
    comes with that phase; where none does, the pair stays with the rolled-back phase, whose segment is
    never true (the strategy stays in place, so that the roll back itself is one segment write).
    """
    controls = controls or {}
    ordered = in_start_order(plan, controls)
    starts = {p.key: effective_start(p, controls) for p in ordered}
    counting = [p for p in ordered if not control_of(controls, p.key).rolled_back]
    result = _sources_of(ordered, starts)
    result.update(_sources_of(counting, starts))
    return result


def access_starts(plan: Plan, controls: Controls | None = None) -> dict[Pair, Reason]:
    """The instant from which each cohort sees each feature, as things stand: pairs whose phases are held
    or rolled back are left out (their segments are never true).

    Every condition in the rule is "a phase has started by t", so access for a pair begins at one
    instant and never ends unless a lead holds or rolls back a phase. `access(plan, at)` is this map cut
    at an instant; in Unleash it is written out as one segment per phase (planner/lifecycle.py).
    """
    controls = controls or {}
    opens = opens_at(plan, controls)
    ramps = ramp_steps(plan, controls)
    result: dict[Pair, Reason] = {}
    for pair, source in access_sources(plan, controls).items():
        instants = [opens[k] for k in source.phases]
        if not all(i is not None for i in instants):
            continue
        steps = () if source.preview else tuple((at, p) for at, p in ramps.get((source.admitted_by, pair[0]), ())
                                                 if at is not None)
        if not source.preview and (source.admitted_by, pair[0]) in ramps:
            if not steps:
                continue  # no step of the ramp may come
            instants[0] = steps[0][0]  # the admitting phase's part begins at its ramp's first step
        result[pair] = Reason(max(instants), source.admitted_by, source.enabled_by, source.preview, steps)
    return result


def access(plan: Plan, *, at: datetime, controls: Controls | None = None) -> dict[Pair, Reason]:
    """Which cohorts see which features at instant `at` (timezone-aware), each with its reason."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    return {pair: reason for pair, reason in access_starts(plan, controls).items() if reason.share_at(at) is not None}
