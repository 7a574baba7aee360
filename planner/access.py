"""The access rule: which cohorts see which features at an instant, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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

    def describe(self) -> str:
        if self.preview:
            return f"preview granted by phase '{self.enabled_by}'"
        if self.admitted_by == self.enabled_by:
            return f"phase '{self.admitted_by}'"
        return f"admitted by phase '{self.admitted_by}', feature enabled by phase '{self.enabled_by}'"


Pair = tuple[str, str]  # (cohort key, feature key)


def _earliest(phases: list[Phase], pick) -> dict[str, Phase]:
    """For each key that `pick(phase)` yields, the earliest counting phase that yields it."""
    first: dict[str, Phase] = {}
    for phase in sorted(phases, key=lambda p: p.starts):
        for key in pick(phase):
            first.setdefault(key, phase)
    return first


def access_starts(plan: Plan) -> dict[Pair, Reason]:
    """The instant from which each cohort sees each feature, over the whole planned time.

    Every condition in the rule is "a phase has started by t", so access for a pair begins at one
    instant and never ends (narrowing happens only by pausing or rolling back a phase, which removes
    it here). `access(plan, at)` is this map cut at an instant; the Unleash strategies are this map
    written out with `currentTime` constraints.
    """
    counting = [p for p in plan.phases if p.status.grants_access]
    admitted = _earliest(counting, lambda p: p.cohorts)
    enabled = _earliest(counting, lambda p: p.features)
    result: dict[Pair, Reason] = {}
    for cohort, admit in admitted.items():
        for feature, enable in enabled.items():
            later = max(admit, enable, key=lambda p: p.starts)
            result[(cohort, feature)] = Reason(later.starts, admit.key, enable.key)
    for phase in sorted(counting, key=lambda p: p.starts):
        for grant in phase.grants:
            for cohort in grant.cohorts:
                pair = (cohort, grant.feature)
                if pair not in result or phase.starts < result[pair].starts:
                    result[pair] = Reason(phase.starts, phase.key, phase.key, preview=True)
    return result


def access(plan: Plan, *, at: datetime) -> dict[Pair, Reason]:
    """Which cohorts see which features at instant `at` (timezone-aware), each with its reason."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    return {pair: reason for pair, reason in access_starts(plan).items() if reason.starts <= at}


def admitted_cohorts(plan: Plan, *, at: datetime) -> set[str]:
    return {p for phase in plan.phases if phase.status.grants_access and phase.starts <= at for p in phase.cohorts}


def enabled_features(plan: Plan, *, at: datetime) -> set[str]:
    return {f for phase in plan.phases if phase.status.grants_access and phase.starts <= at for f in phase.features}
