"""A bootstrap file of a plan's flags as Unleash serves them now, so a platform can start without Unleash."""

from __future__ import annotations

from typing import Any

from flags.bootstrap import bootstrap_for, fetch_client_payload
from planner.errors import NotConfigured
from services.plans import get_plan
from services.settings import Settings


def bootstrap(*, settings: Settings, key: str) -> dict[str, Any]:
    """The plan's flags and the segments they use, in the client API's shape (what SDKs bootstrap from).
    PlanNotFound, NotConfigured, or the Unleash client's UnleashAuthError / UnleashUnavailable."""
    plan = get_plan(database_url=settings.database_url, key=key)
    token = settings.unleash_client_token.get_secret_value()
    if not token:
        raise NotConfigured("UNLEASH_CLIENT_TOKEN is not set: the bootstrap is read from the client API, "
                            "as SDKs read it")
    payload = fetch_client_payload(settings.unleash_url, token, timeout=settings.unleash_timeout)
    return bootstrap_for(payload, {plan.flag_name(f.key) for f in plan.features})
