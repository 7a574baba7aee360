"""Readiness: the database reachable and at the schema's head, and Unleash taking the admin token; a reason
per check otherwise (never a token, nor Unleash's address: anyone may ask)."""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass

from flags.errors import UnleashAuthError, UnleashError, UnleashUnavailable
from planner import migrate

log = logging.getLogger(__name__)
OK = "ok"


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # check -> "ok" or why not

    @property
    def ready(self) -> bool:
        return all(answer == OK for answer in self.checks.values())


@functools.cache
def _head() -> str:
    return migrate.head()


class UnleashCheck:
    """Whether the admin token opens the Admin API, asked at most once per `ttl` seconds: a storm of probes
    waits for one answer instead of each reaching Unleash."""

    def __init__(self, admin, *, ttl: float = 2.0):
        self.admin, self.ttl = admin, ttl
        self._lock = threading.Lock()
        self._answer: tuple[float, str] | None = None

    def __call__(self) -> str:
        with self._lock:
            if self._answer is None or time.monotonic() - self._answer[0] >= self.ttl:
                answer = self._ask()
                if self._answer is None or answer != self._answer[1]:
                    log.log(logging.INFO if answer == OK else logging.WARNING, "readiness: unleash %s", answer)
                self._answer = (time.monotonic(), answer)
            return self._answer[1]

    def _ask(self) -> str:
        if self.admin is None:
            return "not configured: UNLEASH_ADMIN_TOKEN is not set"
        try:
            self.admin.resource_limits()  # GET /api/admin/ui-config: an admin token's, refused to others
        except UnleashAuthError as exc:
            return f"the admin token was refused ({exc.status}): check UNLEASH_ADMIN_TOKEN (an admin token, `*:*.…`)"
        except UnleashUnavailable as exc:
            said = f"it answered {exc.status}" if exc.status else "no answer: refused or timed out"
            return f"unreachable ({said}): check UNLEASH_URL and that Unleash runs"
        except UnleashError as exc:
            return f"the Admin API answered {exc.status or 'badly'}: check UNLEASH_URL (the API URL, ending in /api)"
        return OK


def readiness(*, database_url: str, unleash: UnleashCheck) -> Readiness:
    try:
        revision = migrate.current(database_url)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is the same answer
        database, migrations = f"unreachable ({type(exc).__name__}): check PLANNER_DATABASE_URL", "unknown"
    else:
        database = OK
        migrations = OK if revision == _head() else (
            f"at {revision or 'no revision'}, the planner needs {_head()}: run `planner db upgrade`")
    return Readiness({"database": database, "migrations": migrations, "unleash": unleash()})
