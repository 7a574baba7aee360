"""KPIs and gates, pure: a KPI's target and window, and the verdict its data gives.

A gate is the list of KPIs a phase waits for. Each KPI is judged over its window, which ends at the
decision: the gated phase's start (or now, for a KPI that gates nothing). The verdict is one of:
- pass: counts, sums and distinct users have reached the target (exact); for a share or a mean, the lower
  bound of its anytime-valid confidence sequence (planner.confidence) clears the target. A pass stands
  however often it is looked at: the sequence holds at every look at once, not only at one fixed n;
- fail: the window has ended and the target was not reached (a share or mean: its bound lies wholly on
  the wrong side of the target at the end of the window);
- inconclusive: neither yet, and always while there are fewer observations than the KPI's minimum sample.

A gate passes when each of its KPIs passes, fails when one fails, and is inconclusive otherwise.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from planner.confidence import ALPHA, Bounds, mean_bounds, share_bounds
from planner.errors import PlanError
from planner.model import DELAY, Aggregation, CohortKind, Kpi, KpiSource, Plan, parse_delay

TARGET = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")
SINCE = re.compile(r"^\s*since\s+(\S+)\s*$")
EXACT = (Aggregation.latest, Aggregation.count, Aggregation.distinct_users, Aggregation.sum)
BY_SOURCE = {KpiSource.manual: (Aggregation.latest,),
             KpiSource.event: (Aggregation.count, Aggregation.distinct_users, Aggregation.sum, Aggregation.mean,
                               Aggregation.share),
             KpiSource.unleash: (Aggregation.count,)}
MAX_WINDOW = timedelta(days=366)


class Outcome(str, enum.Enum):
    passed = "pass"
    failed = "fail"
    inconclusive = "inconclusive"


@dataclass(frozen=True)
class Target:
    op: str
    number: float  # shares: a fraction (60 % is 0.6)
    percent: bool = False

    def met(self, value: float) -> bool:
        return {">=": value >= self.number, ">": value > self.number, "<=": value <= self.number,
                "<": value < self.number, "==": math.isclose(value, self.number)}[self.op]

    @property
    def upward(self) -> bool:
        """More is better (>=, >)."""
        return self.op in (">=", ">")

    def shown(self) -> str:
        return f"{self.op} {number(self.number, self.percent)}"


def number(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.0f} %" if abs(value * 100 - round(value * 100)) < 0.05 else f"{value * 100:.1f} %"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def parse_target(kpi: Kpi) -> Target:
    """The KPI's target; ValueError when it is not a comparison and a number."""
    match = TARGET.match(kpi.target or "")
    if not match:
        raise ValueError(f"'{kpi.target}' must be a comparison and a number, e.g. '>= 50'")
    op, value, percent = match.groups()
    share = kpi.how is Aggregation.share
    if share:
        return Target(op, float(value) / 100, True)
    if percent:
        raise ValueError(f"'{kpi.target}': only a share's target is a percentage")
    return Target(op, float(value))


def kpi_errors(path: str, kpi: Kpi, plan: Plan) -> list[PlanError]:
    """What is wrong with a KPI's definition in `plan`, each named by its field."""
    errors: list[PlanError] = []
    add = lambda name, message: errors.append(PlanError(f"{path}.{name}", message))  # noqa: E731
    how = kpi.how
    if how not in BY_SOURCE[kpi.source]:
        allowed = ", ".join(a.value for a in BY_SOURCE[kpi.source])
        add("aggregation", f"a {kpi.source.value} KPI is summed up as {allowed}, not {how.value}")
    try:
        target = parse_target(kpi)
    except ValueError as exc:
        add("target", str(exc))
    else:
        if how in (Aggregation.share, Aggregation.mean) and target.op == "==":
            add("target", "a share or a mean is estimated, never exact: compare it with >=, >, <= or <")
        if how is Aggregation.share and not 0 < target.number < 1:
            add("target", "a share's target lies between 0 % and 100 %, both excluded")
        if how is Aggregation.mean and kpi.scale and not kpi.scale[0] < target.number < kpi.scale[1]:
            add("target", f"must lie inside the scale {number(kpi.scale[0])} to {number(kpi.scale[1])}")
    window = kpi.window.strip()
    if window:
        since = SINCE.match(window)
        delay = parse_delay(window)
        if since:
            if not any(p.key == since.group(1) for p in plan.phases):
                add("window", f"'since {since.group(1)}': the plan has no phase '{since.group(1)}'")
        elif delay is None:
            add("window", f"'{window}' must be a length such as 14d or 2w, 'since <phase>', or empty (all the data)")
        elif not timedelta(0) < delay <= MAX_WINDOW:
            add("window", "must be longer than nothing and at most a year")
    if kpi.cohort is not None:
        cohort = next((c for c in plan.cohorts if c.key == kpi.cohort), None)
        if cohort is None:
            add("cohort", f"unknown cohort '{kpi.cohort}'")
        elif cohort.kind not in (CohortKind.opt_in, CohortKind.list):
            add("cohort", f"'{kpi.cohort}' is an {cohort.kind.value} cohort: the planner knows the members of "
                          "opt-in and list cohorts only")
        elif kpi.source is not KpiSource.event:
            add("cohort", "only event KPIs are measured on a cohort (their events name users)")
    elif how is Aggregation.share:
        add("cohort", "a share is the share of a cohort's members: name the cohort")
    if kpi.min_sample < 0:
        add("min_sample", "must not be negative")
    if how is Aggregation.mean:
        if kpi.scale is None:
            add("scale", "a mean needs the scale its values lie on, e.g. [1, 5]")
        elif not kpi.scale[0] < kpi.scale[1]:
            add("scale", "give [low, high] with low below high")
    elif kpi.scale is not None:
        add("scale", "only a mean has a scale")
    if kpi.source is KpiSource.unleash:
        if kpi.feature is None:
            add("feature", "name the feature whose served count this is")
        elif not any(f.key == kpi.feature for f in plan.features):
            add("feature", f"unknown feature '{kpi.feature}'")
    elif kpi.feature is not None:
        add("feature", "only an unleash KPI names a feature")
    return errors


@dataclass(frozen=True)
class Window:
    start: datetime | None  # None: from the first data on
    end: datetime  # the decision: data after it does not count
    decides: bool = True  # False for a KPI that gates nothing: it ends now, and never "ends short"

    def holds(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and at <= self.end


def window(kpi: Kpi, plan: Plan, *, end: datetime, starts: dict[str, datetime], decides: bool = True) -> Window:
    """The KPI's window ending at `end` (a gated phase's start, or now when `decides` is False); `starts` are
    the phases' effective starts."""
    text = kpi.window.strip()
    since = SINCE.match(text)
    if since:
        start = starts.get(since.group(1))
        return Window(min(start, end) if start else end, end, decides)
    delay = parse_delay(text)
    return Window(end - delay if delay else None, end, decides)


def window_words(kpi: Kpi, plan: Plan) -> str:
    """The window as a lead reads it: "since Pilot's start", "the last 14 days", "all the data"."""
    text = kpi.window.strip()
    since = SINCE.match(text)
    if since:
        key = since.group(1)
        phase = next((p for p in plan.phases if p.key == key), None)
        return f"since {(phase.name or phase.key) if phase else key}'s start"
    delay = DELAY.match(text)
    if delay is None:
        return "all the data"
    count, unit = int(delay.group(1)), {"m": "minute", "h": "hour", "d": "day", "w": "week"}[delay.group(2)]
    return f"the last {unit}" if count == 1 else f"the last {count} {unit}s"


@dataclass(frozen=True)
class Observation:
    """What a KPI's data in its window sums up to (planner.kpidata gathers it)."""

    n: int = 0  # observations: events, members (a share), served evaluations, entered values
    count: int = 0
    distinct: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    latest: float | None = None  # manual: the latest value entered in the window
    latest_at: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    kpi: Kpi
    outcome: Outcome
    value: float | None  # the KPI's value now (a share as a fraction)
    target: Target | None
    n: int
    bounds: Bounds | None = None  # shares and means: the confidence sequence at this look
    text: str = ""  # in plain words, with the numbers behind it
    window: Window | None = None

    @property
    def name(self) -> str:
        return self.kpi.name or self.kpi.key


def value_of(kpi: Kpi, obs: Observation) -> float | None:
    how = kpi.how
    if how is Aggregation.latest:
        return obs.latest
    if how is Aggregation.count:
        return float(obs.count)
    if how is Aggregation.distinct_users:
        return float(obs.distinct)
    if how is Aggregation.sum:
        return obs.total
    if how is Aggregation.mean:
        return obs.total / obs.n if obs.n else None
    return obs.distinct / obs.n if obs.n else None  # share: members with an event / members


def _left(end: datetime, now: datetime) -> str:
    left = end - now
    if left <= timedelta(0):
        return "the window has ended"
    days = round(left.total_seconds() / 86400)
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''} left"
    hours = max(1, round(left.total_seconds() / 3600))
    return f"{hours} hour{'s' if hours != 1 else ''} left"


def gap(left: str) -> str:
    """Between the numbers and the outcome: the time left, when there is a deadline."""
    return f", {left}: " if left else ": "


def verdict(kpi: Kpi, obs: Observation, win: Window, *, now: datetime, alpha: float = ALPHA) -> Verdict:
    """The KPI's verdict at `now` from its data in `win` (see the module's rule)."""
    try:
        target = parse_target(kpi)
    except ValueError:
        return Verdict(kpi, Outcome.inconclusive, None, None, obs.n, text="its target cannot be read", window=win)
    ended = win.decides and now >= win.end
    value = value_of(kpi, obs)
    unit = f" {kpi.unit}" if kpi.unit else ""
    left = _left(win.end, now) if win.decides else ""  # a KPI that gates nothing has no time left
    how = kpi.how
    needed = kpi.min_sample if how in EXACT else max(kpi.min_sample, 1)  # a count of 0 is a count
    if obs.n < needed or value is None:
        need = f" of the {kpi.min_sample} needed" if kpi.min_sample else ""
        text = f"{obs.n} observation{'s' if obs.n != 1 else ''}{need} so far{gap(left)}inconclusive"
        if how is Aggregation.latest and value is None:
            text = f"no value entered in the window yet{gap(left)}inconclusive"
        return Verdict(kpi, Outcome.inconclusive, value, target, obs.n, text=text, window=win)
    if how in EXACT:
        return _exact(kpi, obs, win, target, value, ended, unit, left)
    try:
        bounds = (share_bounds(obs.distinct, obs.n, alpha=alpha) if how is Aggregation.share
                  else mean_bounds(obs.total, obs.total_sq, obs.n, low=kpi.scale[0], high=kpi.scale[1], alpha=alpha))
    except ValueError:  # e.g. a scale narrowed after values outside it were stored
        return Verdict(kpi, Outcome.inconclusive, value, target, obs.n, window=win,
                       text=f"its {obs.n} values do not fit its scale any more: inconclusive")
    clears = (bounds.lower >= target.number if target.op == ">=" else bounds.lower > target.number if target.op == ">"
              else bounds.upper <= target.number if target.op == "<=" else bounds.upper < target.number)
    misses = bounds.upper < target.number if target.upward else bounds.lower > target.number
    outcome = Outcome.passed if clears else Outcome.failed if ended and misses else Outcome.inconclusive
    pct = how is Aggregation.share
    level = round((1 - alpha) * 100)
    what = (f"{obs.distinct} of {obs.n} members, {number(value, True)}" if pct
            else f"mean {number(value)}{unit} of {obs.n}")
    text = (f"{what} (between {number(bounds.lower, pct)} and {number(bounds.upper, pct)} at {level} % "
            f"confidence), target {target.shown()}{gap(left)}{outcome.value}")
    return Verdict(kpi, outcome, value, target, obs.n, bounds, text, win)


def _exact(kpi: Kpi, obs: Observation, win: Window, target: Target, value: float, ended: bool, unit: str,
           left: str) -> Verdict:
    """Counts, sums, distinct users and entered values: the number itself against the target. A count only
    grows, so an upward target passes once reached and a downward one fails once exceeded; the rest is
    decided when the window ends (== too). An entered value may go either way, so it passes only while it meets the
    target at the end, or at once for an upward target it meets."""
    met = target.met(value)
    if kpi.how is Aggregation.latest:
        outcome = (Outcome.passed if met and (target.upward or ended) else Outcome.failed if ended
                   else Outcome.inconclusive)
        when = f" on {obs.latest_at:%Y-%m-%d}" if obs.latest_at else ""
        text = f"{number(value)}{unit} entered{when}, target {target.shown()}{gap(left)}{outcome.value}"
        return Verdict(kpi, outcome, value, target, obs.n, text=text, window=win)
    if target.upward:  # events' values are never negative, so a sum only grows too
        outcome = Outcome.passed if met else Outcome.failed if ended else Outcome.inconclusive
    elif target.op == "==":
        outcome = (Outcome.passed if met else Outcome.failed) if ended else Outcome.inconclusive
    else:
        outcome = Outcome.failed if not met else Outcome.passed if ended else Outcome.inconclusive
    if target.upward and met:
        text = f"{number(value)}{unit}, {number(target.number)} needed: {outcome.value}"
    elif target.upward:
        text = f"{number(value)}{unit} of {number(target.number)} needed{gap(left)}{outcome.value}"
    else:
        text = f"{number(value)}{unit}, target {target.shown()}{gap(left)}{outcome.value}"
    return Verdict(kpi, outcome, value, target, obs.n, text=text, window=win)


@dataclass(frozen=True)
class GateVerdict:
    phase: str
    outcome: Outcome
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return "; ".join(f"{v.name}: {v.text}" for v in self.verdicts)


def gate(phase: str, verdicts: list[Verdict]) -> GateVerdict:
    outcomes = {v.outcome for v in verdicts}
    outcome = (Outcome.failed if Outcome.failed in outcomes else Outcome.passed if outcomes == {Outcome.passed}
               else Outcome.inconclusive)
    return GateVerdict(phase, outcome, tuple(verdicts))
