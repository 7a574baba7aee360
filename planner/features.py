"""What one user has now and what is coming: the plan's explanation beside the real Unleash's answer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from planner.access import Reason, access_starts
from planner.membership import User, in_cohort, in_share
from planner.lifecycle import Controls, control_of, gate_shut, label
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
    waits_for: tuple[str, ...] = ()  # the phases (names) whose gate must pass first for `since` to hold
    gate_late: bool = False  # `since` has come, and a gate still waits

    @property
    def gate_words(self) -> str:
        return gates_words(self.waits_for) if self.waits_for else ""

    @property
    def agrees(self) -> bool | None:
        return None if self.unleash is None else self.unleash == self.planned_now


@dataclass(frozen=True)
class _Route:
    since: datetime
    cohort: str
    reason: Reason
    gates: tuple[str, ...]  # names of the phases whose shut gate it waits for


def user_features(plan: Plan, user: User, *, now: datetime, members: dict[str, list[str]],
                  controls: Controls | None = None) -> list[FeatureLine]:
    """Every feature of `plan` the user has or will get, earliest access first, with cohort and phase; also
    what a phase waiting for its gate would give (Unleash gives none of it until the gate passes)."""
    controls = controls or {}
    belongs = {c.key for c in plan.cohorts
               if in_cohort(plan, c, user, members=frozenset(members.get(c.key, [])), at=now)}
    routes: list[tuple[str, _Route]] = []
    for (cohort, feature), reason, gates in _routes(plan, controls):
        if cohort not in belongs:
            continue
        since = reason.since_for(lambda share, c=plan.cohort(cohort): in_share(plan, c, user, share))
        if since is not None:  # a ramp whose steps do not reach the user gives nothing
            routes.append((feature, _Route(since, cohort, reason, gates)))
    lines: dict[str, FeatureLine] = {}
    names = {f.key: f.name or f.key for f in plan.features}
    ungated = {}
    for feature, route in routes:
        if not route.gates:
            ungated[feature] = min(route.since, ungated.get(feature, route.since))
    for feature, route in sorted(routes, key=lambda r: (r[1].since, r[1].gates)):
        if route.gates and feature in ungated and route.since >= ungated[feature]:
            continue  # the gate holds back nothing the user would not get as soon without it
        line = lines.get(feature)
        if line is None:
            now_given = route.since <= now and not route.gates
            line = lines[feature] = FeatureLine(plan.key, feature, plan.flag_name(feature), names[feature],
                                                route.since, now_given, waits_for=route.gates,
                                                gate_late=bool(route.gates) and route.since <= now)
        if line.planned_now and (route.since > now or route.gates):
            continue  # a later or gated way to the same feature is no reason for having it today
        line.reasons.append(_words(plan, route, line))
    return sorted(lines.values(), key=lambda line: line.since)


def _routes(plan: Plan, controls: Controls):
    """(pair, reason, gates): the access as things stand, and what each shut gate holds back (the access with
    that gate passed, where it differs)."""
    given = access_starts(plan, controls)
    for pair, reason in given.items():
        yield pair, reason, ()
    shut = [p for p in plan.phases if gate_shut(p, control_of(controls, p.key))]
    if not shut:
        return
    opened = dict(controls) | {p.key: replace(control_of(controls, p.key), gate="passed") for p in shut}
    shut_names = {p.key: label(p) for p in shut}
    for pair, reason in access_starts(plan, opened).items():
        gates = tuple(dict.fromkeys(shut_names[k] for k in (reason.admitted_by, reason.enabled_by) if k in shut_names))
        if gates and given.get(pair) != reason:
            yield pair, reason, gates


def gates_words(phases: tuple[str, ...]) -> str:
    """“Wave 1's gate”, “the gates of Wave 1 and Wave 2”."""
    return f"{phases[0]}'s gate" if len(phases) == 1 else f"the gates of {' and '.join(phases)}"


def _words(plan: Plan, route: _Route, line: FeatureLine) -> str:
    """One way to the feature; its date and gate only where they are not the line's own."""
    cohort = plan.cohort(route.cohort)
    words = f"cohort “{cohort.name or cohort.key}”, {route.reason.describe(plan)}"
    if route.gates and (route.gates != line.waits_for or route.since != line.since):
        words += f", once {gates_words(route.gates)} open{'s' if len(route.gates) == 1 else ''}"
    if route.since != line.since:
        words = f"from {route.since.strftime('%d %b %Y')}: {words}"
    return words
