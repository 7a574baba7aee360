"""How often Unleash served a flag, hour by hour: the admin API's raw client metrics, parsed.

What Unleash 8.2 sends (``GET /api/admin/client-metrics/features/{name}/raw?hoursBack=N``), as
measured on the development server:

- ``{"version": 1, "maturity": "stable", "data": [row, ...]}``, each row ``{featureName, appName,
  environment, timestamp, yes, no}`` plus ``variants`` (``{}`` without variants) on rows that hold
  counts. ``timestamp`` is the start of the hour (``2026-12-02T05:00:00.000Z``); the environment is
  the one of the SDK's client token, not what the SDK says about itself.
- one row per app name, environment and hour: the instances of one app add up in one row, two apps
  get two rows. The server pads the window with ``yes = no = 0`` rows for every hour, app and
  environment it has any row of; ``served_hours`` leaves those out (the server stores no zero rows,
  so a zero row is never a measurement).
- a flag with no metrics and a flag that does not exist both give ``data: []`` (200, not 404):
  ``served_hours`` returns ``[]`` for both, and the caller knows which flags exist.
- at most 100 app names per flag; rows of further apps are left out by the server.
- the current hour keeps growing (the server adds every SDK report to it), so a copy of these
  rows must replace a stored hour, not add to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flags.admin import FEATURE_METRICS_RAW, METRICS_HOURS_KEPT, UnleashAdmin
from flags.errors import UnleashRefused

log = logging.getLogger(__name__)

# Unleash 8.2 returns the rows of this many app names per flag at most (slice(0, 100)).
MAX_APPS = 100


@dataclass(frozen=True)
class ServedHour:
    """How often ``app`` was served ``flag`` in ``environment`` in the hour from ``hour``."""

    flag: str
    hour: datetime  # the hour bucket's start, aware UTC
    environment: str
    app: str
    yes: int
    no: int


def served_hours(
    admin: UnleashAdmin, flag_name: str, *, hours_back: int = METRICS_HOURS_KEPT
) -> list[ServedHour]:
    """The flag's served counts of the last ``hours_back`` hours (at most the 48 Unleash keeps),
    one per hour, environment and app that was served the flag, oldest first. One GET."""
    return parse_served_hours(flag_name, admin.feature_metrics(flag_name, hours_back=hours_back))


def parse_served_hours(flag_name: str, rows: list[Any]) -> list[ServedHour]:
    """``ServedHour``s from the raw endpoint's ``data`` rows, without the zero padding.

    ``appName`` missing reads as ``""``, ``yes`` or ``no`` missing as 0, ``variants`` is ignored;
    a row without an environment or a timestamp, or with a count that is not a whole number
    >= 0, is an error naming the row and the field.
    """
    path = FEATURE_METRICS_RAW.format(feature=quote(flag_name, safe=""))
    served: list[ServedHour] = []
    apps: set[str] = set()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _malformed(path, index, "is not an object")
        app = row.get("appName")
        app = "" if app is None else str(app)
        apps.add(app)
        hour = ServedHour(
            flag=flag_name,
            hour=_hour(path, index, row.get("timestamp")),
            environment=_environment(path, index, row.get("environment")),
            app=app,
            yes=_count(path, index, row, "yes"),
            no=_count(path, index, row, "no"),
        )
        if hour.yes or hour.no:
            served.append(hour)
    if len(apps) >= MAX_APPS:
        log.warning(
            "Unleash reports %d apps for flag %r, its maximum: the counts of further apps are missing",
            len(apps), flag_name,
        )
    return sorted(served, key=lambda h: (h.hour, h.environment, h.app))


def _hour(path: str, index: int, value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise _malformed(path, index, f"has no timestamp (got {value!r})")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _malformed(path, index, f"has a timestamp that is not ISO 8601: {value!r}") from None
    # Unleash sends UTC with Z; a time without an offset is taken as UTC too.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _environment(path: str, index: int, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _malformed(path, index, f"has no environment (got {value!r})")
    return value


def _count(path: str, index: int, row: dict, field: str) -> int:
    value = row.get(field, 0)
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(path, index, f"has {field}={value!r}, not a whole number >= 0")
    return value


def _malformed(path: str, index: int, what: str) -> UnleashRefused:
    return UnleashRefused(
        f"Unleash answered GET {path} with metrics row {index} that {what}",
        method="GET", path=path, status=200,
    )
