"""A FastAPI dependency for a platform's routes that belong to a feature: 404 for users without it.

    @app.get("/wiki", dependencies=[Depends(requires(flags, "wiki", current_user))])

The one module of `flags` that imports FastAPI (the import-linter contracts allow it here alone).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException

from flags.platform import PlatformFlags, PlatformUser, UnknownFeature


def requires(flags: PlatformFlags, feature: str, current_user: Callable[..., PlatformUser]):
    """The guard: the page does not exist for a user without the feature (yet). With a plan read once, a feature
    key that is not in it fails here, at import time of the platform's routes, not at the first request; with a
    live plan a feature may come later, and until then its page does not exist."""
    if not flags.live:
        flags.flag(feature)

    def guard(user: PlatformUser = Depends(current_user)) -> PlatformUser:
        try:
            allowed = flags.enabled(feature, user)
        except UnknownFeature:  # a live plan that does not (or no longer) have it
            raise HTTPException(404, "there is no such page") from None
        if not allowed:
            raise HTTPException(404, f"{flags.name(feature)} is not available to you yet")
        return user

    return guard
