"""The plan as plain, immutable data: features, cohorts, phases, KPIs."""

from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Spec(BaseModel):
    """Base of every plan object: immutable, unknown fields refused (a typo must not pass silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CohortKind(str, enum.Enum):
    opt_in = "opt_in"
    list = "list"
    attribute = "attribute"
    everyone = "everyone"


class Operator(str, enum.Enum):
    """Constraint operators that Unleash evaluates and the planner can explain."""

    IN = "IN"
    NOT_IN = "NOT_IN"
    STR_CONTAINS = "STR_CONTAINS"
    STR_STARTS_WITH = "STR_STARTS_WITH"
    STR_ENDS_WITH = "STR_ENDS_WITH"
    NUM_EQ = "NUM_EQ"
    NUM_GT = "NUM_GT"
    NUM_GTE = "NUM_GTE"
    NUM_LT = "NUM_LT"
    NUM_LTE = "NUM_LTE"
    DATE_AFTER = "DATE_AFTER"
    DATE_BEFORE = "DATE_BEFORE"
    SEMVER_EQ = "SEMVER_EQ"
    SEMVER_GT = "SEMVER_GT"
    SEMVER_LT = "SEMVER_LT"

    @property
    def multi_valued(self) -> bool:
        return self in MULTI_VALUED


MULTI_VALUED = frozenset(
    {Operator.IN, Operator.NOT_IN, Operator.STR_CONTAINS, Operator.STR_STARTS_WITH, Operator.STR_ENDS_WITH}
)


class Rule(Spec):
    """One condition on a context property, e.g. `department IN [HR, Sales]`."""

    property: str
    operator: Operator
    values: tuple[str, ...] = ()
    case_insensitive: bool = False
    inverted: bool = False


def _listed(value):
    """A list given as one text (an older plan file's `interests: "a; b"`): split on ';' and new lines."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.replace("\n", ";").split(";") if part.strip())
    return value


class Feature(Spec):
    key: str
    name: str = ""
    description: str = ""
    serves: tuple[str, ...] = ()  # the target groups' interests this feature serves (the platform strategy)

    _serves_listed = field_validator("serves", mode="before")(_listed)


class Cohort(Spec):
    key: str
    name: str = ""
    kind: CohortKind
    description: str = ""
    interests: tuple[str, ...] = ()  # what this target group wants from the platform (the content strategy)
    needs: str = ""
    capacity: int | None = None
    users: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    percentage: int | None = None

    _interests_listed = field_validator("interests", mode="before")(_listed)


class Grant(Spec):
    """A feature a phase enables for named cohorts only (a preview), not for every admitted cohort."""

    feature: str
    cohorts: tuple[str, ...]


class Training(Spec):
    """A training session of a phase: when, for whom, about what."""

    at: datetime
    audience: str = ""
    topic: str
    held: bool = False  # marked once it took place
    attendance: int | None = None  # how many came


DELAY = re.compile(r"^\s*(\d{1,4})\s*([mhdw])\s*$")
DELAY_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_delay(text: str) -> timedelta | None:
    """`90m`, `12h`, `3d`, `2w` as a timedelta; None when it is not one."""
    match = DELAY.match(text or "")
    return int(match.group(1)) * DELAY_UNITS[match.group(2)] if match else None


class RampStep(Spec):
    """One step of a ramp: `percent` of the cohort, from `after` the phase's start on (`0d`: at the start)."""

    percent: int
    after: str = "0d"

    @property
    def delay(self) -> timedelta:
        return parse_delay(self.after) or timedelta(0)


class Ramp(Spec):
    """A phase admits a cohort in steps, e.g. 10 % at the start, 50 % after 3 days, 100 % after a week. The
    users of a step stay in every later one (one stickiness group per cohort)."""

    cohort: str
    steps: tuple[RampStep, ...]


class Phase(Spec):
    key: str
    name: str = ""
    starts: datetime
    ends: datetime | None = None
    cohorts: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    ramps: tuple[Ramp, ...] = ()
    gate: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    community_managers: tuple[str, ...] = ()
    budget: float | None = None  # planned
    spent: float | None = None  # spent so far
    trainings: tuple[Training, ...] = ()


class KpiSource(str, enum.Enum):
    manual = "manual"
    unleash = "unleash"
    event = "event"


class Aggregation(str, enum.Enum):
    """How a KPI's data in its window becomes one number."""

    latest = "latest"  # manual: the latest value a lead entered (a survey result, say)
    count = "count"  # the number of events (unleash: how often the feature was served)
    distinct_users = "distinct_users"  # the number of users with at least one event
    sum = "sum"  # the events' values added up
    mean = "mean"  # the events' mean value, on the KPI's scale
    share = "share"  # the share of the cohort's members with at least one event (adoption)


class Kpi(Spec):
    """A success measure: its data (`source`), how it is summed up over its window, and its target. A phase
    whose gate names it starts only once every KPI of the gate passes (planner.kpis)."""

    key: str
    name: str = ""
    unit: str = ""
    source: KpiSource = KpiSource.manual
    aggregation: Aggregation | None = None  # None: `latest` for manual, `count` otherwise
    target: str  # a comparison and a number: ">= 50", "<= 2.5", ">= 60%" (shares are percentages)
    # "" (all the data up to the decision), "14d" (the 14 days up to it) or "since <phase>" (from that phase's
    # start); the decision is the gated phase's start, or now for a KPI that gates nothing
    window: str = ""
    cohort: str | None = None  # measured on this cohort's members only (an opt-in or list cohort)
    min_sample: int = 0  # fewer observations than this: inconclusive
    scale: tuple[float, float] | None = None  # a mean's values lie in [low, high] (e.g. ratings 1 to 5)
    feature: str | None = None  # unleash: the feature whose flag's served count this is

    @property
    def how(self) -> Aggregation:
        if self.aggregation is not None:
            return self.aggregation
        return Aggregation.latest if self.source is KpiSource.manual else Aggregation.count


class Goal(Spec):
    """What one stakeholder wants from the rollout (HR: people connect), for which target groups, measured by
    which KPIs."""

    key: str
    stakeholder: str
    text: str
    cohorts: tuple[str, ...] = ()
    kpis: tuple[str, ...] = ()


class Guidelines(Spec):
    """The usage guidelines every participant accepts; a new version may require re-acceptance."""

    version: int = 1
    text: str = ""
    # when a new version is published: does a member's access pause until they accept it again?
    pause_until_accepted: bool = False


class SyncMode(str, enum.Enum):
    auto = "auto"  # the controller writes every change to Unleash on its next round
    review = "review"  # changes wait for a lead's Apply; the plan page says how many


class UnleashBinding(Spec):
    project: str = "default"
    environment: str = "production"


class Plan(Spec):
    plan: str = Field(description="the plan's key")
    title: str = ""
    goal: str = ""
    flag_prefix: str = ""
    currency: str = "EUR"
    sync: SyncMode = SyncMode.auto
    # a change that widens access now (an edit reaching an active phase, a start now, a resume) waits for a
    # second lead's approval; narrowing (hold, roll back) never waits
    four_eyes: bool = False
    guidelines: Guidelines = Guidelines()
    unleash: UnleashBinding = UnleashBinding()
    features: tuple[Feature, ...] = ()
    cohorts: tuple[Cohort, ...] = ()
    kpis: tuple[Kpi, ...] = ()
    goals: tuple[Goal, ...] = ()
    phases: tuple[Phase, ...] = ()

    @property
    def key(self) -> str:
        return self.plan

    def flag_name(self, feature_key: str) -> str:
        return f"{self.flag_prefix}{feature_key}"

    def feature(self, key: str) -> Feature:
        return next(f for f in self.features if f.key == key)

    def cohort(self, key: str) -> Cohort:
        return next(c for c in self.cohorts if c.key == key)

    def phase(self, key: str) -> Phase:
        return next(p for p in self.phases if p.key == key)


# The parts of a plan, in the plan file's order: the name of each list and the model of its items.
PARTS: dict[str, type[Spec]] = {"features": Feature, "cohorts": Cohort, "kpis": Kpi, "goals": Goal, "phases": Phase}
