"""A phase's lifecycle: what leads did to it (hold, resume, start now, roll back) and the status that follows.

The plan says what is meant to happen and when; the controls say what leads did about it. Both are plain
data, so everything here is pure:
- `opens_at` is the instant from which each phase's segment in Unleash is true, or None while the phase is
  held or rolled back (its segment is then never true);
- the lead actions return the new controls, or raise `PhaseActionRefused` saying why not;
- `statuses` derives each phase's status from the controls, the clock and what was written to Unleash.

A status is never typed by a lead. Hold keeps what an active phase already gave (its segment stays true)
and stops every later phase that has not started; roll back withdraws the phase and every later one, so
that Unleash is back where it was before the phase started.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from planner.errors import PhaseActionRefused
from planner.model import Phase, Plan

REASON_CHARS = 500  # a lead's reason, as stored and shown


class PhaseStatus(str, enum.Enum):
    planned = "planned"  # not in Unleash yet
    scheduled = "scheduled"  # written ahead, its start still to come
    active = "active"
    completed = "completed"  # the next phase started, or its planned end passed
    held = "held"
    rolled_back = "rolled_back"
    gated = "gated"  # its start has come, and its gate has not passed: its segment stays never true

    @property
    def label(self) -> str:
        return "waiting for its gate" if self is PhaseStatus.gated else self.value.replace("_", " ")


class Action(str, enum.Enum):
    hold = "hold"
    resume = "resume"
    start = "start"
    rollback = "rollback"

    @property
    def narrows(self) -> bool:
        """Hold and roll back take access away (or stop it coming) and never wait for anyone."""
        return self in (Action.hold, Action.rollback)


@dataclass(frozen=True)
class Control:
    """What leads did to one phase. `state` is "" (runs by its dates), "held" or "rolled_back"."""

    phase: str
    state: str = ""
    since: datetime | None = None  # when it was held or rolled back
    kept: bool = False  # held while active: what it already gave stays
    cause: str = ""  # the phase whose hold or rollback this follows; "" when the action was on this phase
    started_at: datetime | None = None  # started early by a lead
    reason: str = ""
    actor: str = ""
    # a gated phase opens once its gate passed (the controller records it) or a lead overrode it
    gate: str = ""  # "" | "passed" | "overridden"
    gate_at: datetime | None = None
    gate_by: str = ""
    gate_reason: str = ""

    @property
    def held(self) -> bool:
        return self.state == "held"

    @property
    def rolled_back(self) -> bool:
        return self.state == "rolled_back"


Controls = dict[str, Control]


def control_of(controls: Controls, phase: str) -> Control:
    return controls.get(phase) or Control(phase)


def planned_start(phase: Phase, controls: Controls) -> datetime:
    """The planned start, or the earlier instant a lead started it at: when a gated phase's gate decides."""
    started = control_of(controls, phase.key).started_at
    return started if started is not None and started < phase.starts else phase.starts


def gate_shut(phase: Phase, control: Control) -> bool:
    """A gated phase whose gate has neither passed nor been overridden: Unleash never opens it."""
    return bool(phase.gate) and not control.gate


def effective_start(phase: Phase, controls: Controls) -> datetime:
    """When the phase starts: its planned start, or later when its gate passed only after that instant."""
    start = planned_start(phase, controls)
    control = control_of(controls, phase.key)
    if phase.gate and control.gate and control.gate_at is not None and control.gate_at > start:
        return control.gate_at
    return start


def in_start_order(plan: Plan, controls: Controls) -> list[Phase]:
    """The phases by effective start; the plan's order breaks ties."""
    order = {p.key: i for i, p in enumerate(plan.phases)}
    return sorted(plan.phases, key=lambda p: (effective_start(p, controls), order[p.key]))


def opens_at(plan: Plan, controls: Controls) -> dict[str, datetime | None]:
    """Each phase's segment: true from this instant, or never (None) while held or rolled back. A phase held
    while active keeps its start: what it gave stays."""
    result: dict[str, datetime | None] = {}
    for phase in plan.phases:
        control = control_of(controls, phase.key)
        open_ = (control.state == "" or (control.held and control.kept)) and not gate_shut(phase, control)
        result[phase.key] = effective_start(phase, controls) if open_ else None
    return result


Step = tuple[datetime | None, int]  # from when (None: not while held or rolled back), which percentage


def ramp_steps(plan: Plan, controls: Controls) -> dict[tuple[str, str], list[Step]]:
    """The steps of each ramp, by (phase, cohort): each step's instant, or None where its segment is never
    true: the phase is held or rolled back, or held while active and the step not reached by then (a held
    phase keeps the steps it reached and widens no further)."""
    opens = opens_at(plan, controls)
    result: dict[tuple[str, str], list[Step]] = {}
    for phase in plan.phases:
        control = control_of(controls, phase.key)
        start = effective_start(phase, controls)
        for ramp in phase.ramps:
            steps: list[Step] = []
            for step in ramp.steps:
                at = start + step.delay
                if opens[phase.key] is None or (control.held and control.since is not None and at > control.since):
                    steps.append((None, step.percent))
                else:
                    steps.append((at, step.percent))
            result[(phase.key, ramp.cohort)] = steps
    return result


def statuses(plan: Plan, controls: Controls, *, at: datetime, written: set[str] | None = None) -> dict[str, PhaseStatus]:
    """Each phase's status at `at`. `written` are the keys of the phases whose segment the last sync wrote to
    Unleash (None: assume all were)."""
    ordered = in_start_order(plan, controls)
    result: dict[str, PhaseStatus] = {}
    for i, phase in enumerate(ordered):
        control = control_of(controls, phase.key)
        if control.rolled_back:
            result[phase.key] = PhaseStatus.rolled_back
        elif control.held:
            result[phase.key] = PhaseStatus.held
        elif written is not None and phase.key not in written:
            result[phase.key] = PhaseStatus.planned
        elif effective_start(phase, controls) > at:
            result[phase.key] = PhaseStatus.scheduled
        elif gate_shut(phase, control):
            result[phase.key] = PhaseStatus.gated
        elif (phase.ends is not None and phase.ends <= at) or any(
                control_of(controls, later.key).state == "" and effective_start(later, controls) <= at
                and not gate_shut(later, control_of(controls, later.key)) for later in ordered[i + 1:]):
            result[phase.key] = PhaseStatus.completed
        else:
            result[phase.key] = PhaseStatus.active
    return result


def _later(plan: Plan, controls: Controls, phase: Phase) -> list[Phase]:
    ordered = in_start_order(plan, controls)
    return ordered[ordered.index(phase) + 1:]


def _phase(plan: Plan, key: str) -> Phase:
    found = next((p for p in plan.phases if p.key == key), None)
    if found is None:
        raise PhaseActionRefused(f"plan '{plan.key}' has no phase '{key}'")
    return found


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) > REASON_CHARS:
        raise PhaseActionRefused(f"the reason is {len(reason)} characters long; at most {REASON_CHARS}")
    return reason


def label(phase: Phase) -> str:
    return phase.name or phase.key


def apply(plan: Plan, controls: Controls, action: Action, phase_key: str, *, at: datetime, actor: str,
          reason: str = "") -> Controls:
    """The controls after a lead's action on a phase at instant `at`; PhaseActionRefused says why it can't be."""
    phase = _phase(plan, phase_key)
    reason = _reason(reason)
    new = dict(controls)
    own = control_of(controls, phase.key)
    started = effective_start(phase, controls) <= at and not gate_shut(phase, own)
    name = label(phase)
    if action is Action.hold:
        if own.state:
            raise PhaseActionRefused(f"{name} is already {own.state.replace('_', ' ')}")
        if not reason:
            raise PhaseActionRefused("say why the phase is held: a reason is required")
        new[phase.key] = replace(own, state="held", since=at, kept=started, cause="", reason=reason, actor=actor)
        for later in _later(plan, controls, phase):
            other = control_of(controls, later.key)
            if other.state == "" and effective_start(later, controls) > at:
                new[later.key] = replace(other, state="held", since=at, kept=False, cause=phase.key,
                                         reason=f"{name} is held", actor=actor)
    elif action is Action.rollback:
        if own.rolled_back:
            raise PhaseActionRefused(f"{name} is already rolled back")
        if not started:
            raise PhaseActionRefused(f"{name} has not started, so there is nothing to roll back; hold it instead")
        if own.held and not own.kept:
            raise PhaseActionRefused(f"{name} is held and gives nothing; resume it first, or leave it held")
        if not reason:
            raise PhaseActionRefused("say why the phase is rolled back: a reason is required")
        new[phase.key] = replace(own, state="rolled_back", since=at, kept=False, cause="", reason=reason, actor=actor)
        for later in _later(plan, controls, phase):
            other = control_of(controls, later.key)
            if other.state == "":
                new[later.key] = replace(other, state="held", since=at, kept=False, cause=phase.key,
                                         reason=f"{name} was rolled back", actor=actor)
            elif other.held:  # held already: now it gives nothing either
                new[later.key] = replace(other, kept=False)
    elif action is Action.resume:
        if not own.state:
            raise PhaseActionRefused(f"{name} is neither held nor rolled back; there is nothing to resume")
        if own.cause:
            blocker = label(_phase(plan, own.cause)) if any(p.key == own.cause for p in plan.phases) else own.cause
            raise PhaseActionRefused(f"{name} is held because of {blocker}; resume {blocker} instead")
        new[phase.key] = _cleared(own)
        for key, other in controls.items():
            if other.cause == phase.key:
                new[key] = _cleared(other)
    elif action is Action.start:
        if started and own.state == "":
            raise PhaseActionRefused(f"{name} has started already")
        if gate_shut(phase, own):
            raise PhaseActionRefused(f"{name} waits for its gate; override the gate to start it without")
        if own.rolled_back:
            raise PhaseActionRefused(f"{name} was rolled back; resume it to run it again")
        if own.held and not own.cause:
            raise PhaseActionRefused(f"{name} is held; resume it first")
        if not reason:
            raise PhaseActionRefused("say why the phase starts early: a reason is required")
        new[phase.key] = replace(_cleared(own), started_at=at if not started else own.started_at,
                                 reason=reason, actor=actor)
    return {key: c for key, c in new.items() if c != Control(key)}


def _cleared(control: Control) -> Control:
    return replace(control, state="", since=None, kept=False, cause="", reason="", actor="")


def open_gate(plan: Plan, controls: Controls, phase_key: str, *, at: datetime, how: str, actor: str = "",
              reason: str = "") -> Controls:
    """The controls once a phase's gate passed (`how` = "passed", by the controller) or a lead overrode it
    ("overridden", with a reason): the phase starts at its start, or at once when that has passed."""
    phase = _phase(plan, phase_key)
    own = control_of(controls, phase.key)
    name = label(phase)
    if not phase.gate:
        raise PhaseActionRefused(f"{name} has no gate")
    if own.gate:
        raise PhaseActionRefused(f"{name}'s gate is open already ({own.gate})")
    reason = _reason(reason)
    if how == "overridden" and not reason:
        raise PhaseActionRefused("say why the gate is overridden: a reason is required")
    return {**controls, phase.key: replace(own, gate=how, gate_at=at, gate_by=actor, gate_reason=reason)}


def transitions(before: dict[str, PhaseStatus], after: dict[str, PhaseStatus]) -> list[tuple[str, PhaseStatus | None, PhaseStatus]]:
    """The phases whose status changed, as (phase, from, to)."""
    return [(key, before.get(key), status) for key, status in after.items() if before.get(key) is not status]
