"""What a platform team adds to its app: ask "may this user see the innovation blog?" anywhere.

    plan = load_plan(Path("rollout.yaml").read_text())          # the planner's export of the plan
    flags = PlatformFlags(reader, plan, defaults={"innovation-blog": False, "wiki": True})
    flags.enabled("innovation-blog", PlatformUser("u-7", {"department": "HR"}))

The context is built from the plan itself: the properties its cohort rules use (department,
location, ...) are taken from the user's attributes and nothing else, so the platform and the
planner cannot drift apart on names. Feature keys are the plan's keys; the flag name (with the
plan's prefix) is the plan's business. The FastAPI guard for a feature's routes is in flags/fastapi_guard.py,
so that this module needs no web framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from planner.membership import STANDARD_FIELDS
from planner.model import Plan


@dataclass(frozen=True)
class PlatformUser:
    id: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class UnknownFeature(KeyError):
    """A feature key that is not in the plan: a typo in the platform's code, not a user without access."""


class PlatformFlags:
    def __init__(self, reader, plan: Plan, *, defaults: Mapping[str, bool]):
        unknown = set(defaults) - {f.key for f in plan.features}
        if unknown:
            raise UnknownFeature(f"defaults name features that are not in plan '{plan.key}': {sorted(unknown)}")
        missing = {f.key for f in plan.features} - set(defaults)
        if missing:
            # an explicit answer for when Unleash has never answered: False is not always right
            raise ValueError(f"give a default for every feature of plan '{plan.key}'; missing: {sorted(missing)}")
        self.reader, self.plan = reader, plan
        self.defaults = dict(defaults)
        self.flags = {f.key: plan.flag_name(f.key) for f in plan.features}
        self.properties = sorted({rule.property for c in plan.cohorts for rule in c.rules} - STANDARD_FIELDS)

    def context_for(self, user: PlatformUser) -> dict:
        """The Unleash context the plan's cohorts evaluate: userId, and the rule properties the user has."""
        attributes = user.attributes
        return {"userId": user.id,
                "properties": {name: str(attributes[name]) for name in self.properties if attributes.get(name)}}

    def flag(self, feature: str) -> str:
        try:
            return self.flags[feature]
        except KeyError:
            raise UnknownFeature(f"'{feature}' is not a feature of plan '{self.plan.key}'") from None

    def enabled(self, feature: str, user: PlatformUser) -> bool:
        return self.reader.enabled(self.flag(feature), self.context_for(user), default=self.defaults[feature])

    def features_for(self, user: PlatformUser) -> list[str]:
        """Every feature of the plan this user has now, in plan order."""
        context = self.context_for(user)
        return [key for key, flag in self.flags.items()
                if self.reader.enabled(flag, context, default=self.defaults[key])]
