"""A bootstrap copy of what the SDKs see for a plan, so that a platform can start without Unleash."""

from __future__ import annotations

from typing import Any

import httpx

from flags.errors import UnleashAuthError, UnleashUnavailable

CLIENT_SPEC = "5.1.0"  # asks the client API for global segments, as current SDKs do


def fetch_client_payload(url: str, client_token: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The client API's answer, exactly as an SDK gets it (features and segments). UnleashAuthError for a
    refused token, UnleashUnavailable when the server does not answer well; neither carries the token."""
    path = "/api/client/features"
    try:
        response = httpx.get(url.rstrip("/") + "/client/features", timeout=timeout,
                             headers={"Authorization": client_token, "Unleash-Client-Spec": CLIENT_SPEC})
    except httpx.HTTPError as exc:
        raise UnleashUnavailable(f"Unleash at {url} did not answer ({type(exc).__name__})",
                                 method="GET", path=path) from None
    if response.status_code in (401, 403):
        raise UnleashAuthError("Unleash refused the client token: UNLEASH_CLIENT_TOKEN must be a backend token "
                               "of the plan's environment", method="GET", path=path, status=response.status_code)
    if response.status_code >= 400:
        raise UnleashUnavailable(f"Unleash answered {response.status_code} to the client API", method="GET",
                                 path=path, status=response.status_code)
    return response.json()


def bootstrap_for(payload: dict[str, Any], flags: set[str]) -> dict[str, Any]:
    """Only the plan's flags and the segments they use, in the client API's shape (what SDKs bootstrap from)."""
    features = [f for f in payload.get("features", []) if f.get("name") in flags]
    used = {sid for f in features for s in f.get("strategies", []) for sid in s.get("segments", [])}
    segments = [s for s in payload.get("segments", []) if s.get("id") in used]
    return {"version": payload.get("version", 2), "features": features, "segments": segments}
