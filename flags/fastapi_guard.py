"""A FastAPI dependency for a platform's routes that belong to a feature: 404 for users without it.

    @app.get("/wiki", dependencies=[Depends(requires(flags, "wiki", current_user))])

The one module of `flags` that imports FastAPI (the import-linter contracts allow it here alone).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException

from flags.platform import PlatformFlags, PlatformUser


def requires(flags: PlatformFlags, feature: str, current_user: Callable[..., PlatformUser]):
    """The guard: the page does not exist for a user without the feature (yet). A feature key that is not in
    the plan fails here, at import time of the platform's routes, not at the first request."""
    flags.flag(feature)

    def guard(user: PlatformUser = Depends(current_user)) -> PlatformUser:
        if not flags.enabled(feature, user):
            raise HTTPException(404, f"{flags.plan.feature(feature).name or feature} is not available to you yet")
        return user

    return guard
