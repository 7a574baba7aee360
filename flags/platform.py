"""What a platform team adds to its app: ask "may this user see the innovation blog?" anywhere.

    source = PlanSource(url=PLANNER_URL, token=PLANNER_TOKEN, plan="intranet-rollout")  # live, from the planner
    flags = PlatformFlags(reader, source, defaults={"innovation-blog": False, "wiki": True})
    flags.enabled("innovation-blog", PlatformUser("u-7", {"department": "HR"}))

(or `PlatformFlags(reader, load_plan(text), ...)` for a plan file read once.)

The context is built from the plan itself: the properties its cohort rules use (department,
location, ...) are taken from the user's attributes and nothing else, so the platform and the
planner cannot drift apart on names. Feature keys are the plan's keys; the flag name (with the
plan's prefix) is the plan's business. The FastAPI guard for a feature's routes is in flags/fastapi_guard.py,
so that this module needs no web framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flags.plan_source import PlanSource, PlatformPlan
from planner.model import Plan


@dataclass(frozen=True)
class PlatformUser:
    id: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class UnknownFeature(KeyError):
    """A feature key that is not in the plan: a typo in the platform's code, not a user without access."""


class PlatformFlags:
    """The platform's flags of one plan: from a plan file read once (`Plan`), or live from the planner
    (`flags.plan_source.PlanSource`: features added later appear without a restart)."""

    def __init__(self, reader, plan: Plan | PlanSource, *, defaults: Mapping[str, bool],
                 new_feature_default: bool = False):
        self.reader = reader
        self.defaults = dict(defaults)
        self.new_feature_default = new_feature_default  # a feature the plan gained after the platform started
        if isinstance(plan, PlanSource):
            self._source, self._static = plan, None
            return
        self._source, self._static = None, PlatformPlan.from_plan(plan)
        unknown = set(defaults) - set(self._static.flags)
        if unknown:
            raise UnknownFeature(f"defaults name features that are not in plan '{plan.key}': {sorted(unknown)}")
        missing = set(self._static.flags) - set(defaults)
        if missing:
            # an explicit answer for when Unleash has never answered: False is not always right
            raise ValueError(f"give a default for every feature of plan '{plan.key}'; missing: {sorted(missing)}")

    @property
    def live(self) -> bool:
        """Read from the planner (features may come and go), not from a plan file read once."""
        return self._source is not None

    @property
    def view(self) -> PlatformPlan:
        """The plan as it stands (live: the planner's last answer; nothing at all before the first one)."""
        if self._static is not None:
            return self._static
        return self._source.current() or PlatformPlan(key=self._source.plan_key, version=0, flags={})

    @property
    def flags(self) -> dict[str, str]:
        return self.view.flags

    def name(self, feature: str) -> str:
        self.flag(feature)
        return self.view.names.get(feature) or feature

    def context_for(self, user: PlatformUser) -> dict:
        """The Unleash context the plan's cohorts evaluate: userId, and the rule properties the user has."""
        attributes = user.attributes
        return {"userId": user.id,
                "properties": {name: str(attributes[name]) for name in self.view.properties if attributes.get(name)}}

    def flag(self, feature: str) -> str:
        view = self.view
        try:
            return view.flags[feature]
        except KeyError:
            raise UnknownFeature(f"'{feature}' is not a feature of plan '{view.key}'") from None

    def _default(self, feature: str) -> bool:
        return self.defaults.get(feature, self.new_feature_default)

    def enabled(self, feature: str, user: PlatformUser) -> bool:
        return self.reader.enabled(self.flag(feature), self.context_for(user), default=self._default(feature))

    def features_for(self, user: PlatformUser) -> list[str]:
        """Every feature of the plan this user has now, in plan order."""
        context = self.context_for(user)
        return [key for key, flag in self.flags.items()
                if self.reader.enabled(flag, context, default=self._default(key))]
