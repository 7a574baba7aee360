"""The introduction strategy as a whole, pure: whether the platform serves what the target groups want
(coverage), the resources per phase, and the trainings held and planned."""

from __future__ import annotations

from dataclasses import dataclass

from planner.model import Feature, Phase, Plan, Training


def _norm(tag: str) -> str:
    return " ".join(tag.lower().split())


@dataclass(frozen=True)
class Coverage:
    served: dict[str, tuple[str, ...]]  # interest -> the names of the features serving it
    unserved: tuple[tuple[str, tuple[str, ...]], ...]  # (interest, the target groups that have it) no feature serves
    unasked: tuple[Feature, ...]  # features serving no interest any target group named


def coverage(plan: Plan) -> Coverage:
    """Interests no feature serves, and features no target group asked for (interests compare case-blind)."""
    wanted: dict[str, tuple[str, list[str]]] = {}
    for cohort in plan.cohorts:
        for tag in cohort.interests:
            wanted.setdefault(_norm(tag), (tag, []))[1].append(cohort.name or cohort.key)
    serving: dict[str, list[str]] = {}
    for feature in plan.features:
        for tag in feature.serves:
            serving.setdefault(_norm(tag), []).append(feature.name or feature.key)
    served = {shown: tuple(serving[key]) for key, (shown, _groups) in wanted.items() if key in serving}
    unserved = tuple((shown, tuple(groups)) for key, (shown, groups) in wanted.items() if key not in serving)
    unasked = tuple(f for f in plan.features if not any(_norm(t) in wanted for t in f.serves))
    return Coverage(served, unserved, unasked)


@dataclass(frozen=True)
class Budget:
    phase: Phase
    planned: float | None
    spent: float | None

    @property
    def left(self) -> float | None:
        return None if self.planned is None else self.planned - (self.spent or 0.0)


def budgets(plan: Plan) -> tuple[list[Budget], float, float]:
    """Each phase's planned and spent budget, and the totals."""
    rows = [Budget(p, p.budget, p.spent) for p in plan.phases]
    return rows, sum(b.planned or 0.0 for b in rows), sum(b.spent or 0.0 for b in rows)


def trainings(plan: Plan) -> tuple[list[tuple[Phase, Training]], list[tuple[Phase, Training]]]:
    """The training sessions held and those still planned, in time order."""
    every = sorted(((p, t) for p in plan.phases for t in p.trainings), key=lambda pt: pt[1].at)
    return [pt for pt in every if pt[1].held], [pt for pt in every if not pt[1].held]
