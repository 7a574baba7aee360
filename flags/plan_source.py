"""The plan as the platform reads it, from the planner, kept fresh: a feature added in the planner's UI and
synced appears in the platform without a restart.

    source = PlanSource(url="https://planner.example", token=PLANNER_TOKEN, plan="intranet-rollout",
                        cache_file="plan-cache.json")
    source.start()                       # polls GET /api/platform/plans/{plan} every `interval` seconds
    flags = PlatformFlags(reader, source, defaults={...})

Each poll sends the last ETag (an unchanged plan costs a 304). When the planner cannot be reached, the last
copy is kept, also across a restart of the platform (`cache_file`); `health()` says how fresh it is.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformPlan:
    """The plan's part the platform needs: feature key -> flag name (in plan order), and the context
    properties its cohorts' rules use."""

    key: str
    version: int
    flags: dict[str, str]
    names: dict[str, str] = field(default_factory=dict)
    properties: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlatformPlan:
        features = data.get("features") or []
        return cls(key=data["plan"], version=int(data.get("version", 0)),
                   flags={f["key"]: f["flag"] for f in features}, names={f["key"]: f.get("name") or "" for f in features},
                   properties=tuple(data.get("properties") or ()))

    @classmethod
    def from_plan(cls, plan) -> PlatformPlan:
        """From a `planner.model.Plan` (a plan file read once, as before the planner served it)."""
        from planner.membership import STANDARD_FIELDS

        return cls(key=plan.key, version=0, flags={f.key: plan.flag_name(f.key) for f in plan.features},
                   names={f.key: f.name for f in plan.features},
                   properties=tuple(sorted({r.property for c in plan.cohorts for r in c.rules} - STANDARD_FIELDS)))


@dataclass
class SourceHealth:
    ever_fetched: bool = False
    last_success: float | None = None  # time.time()
    last_error: str | None = None
    source: str = "none"  # planner | cache | none

    def as_dict(self) -> dict[str, Any]:
        return {"ever_fetched": self.ever_fetched, "last_success": self.last_success, "last_error": self.last_error,
                "source": self.source}


class PlanSource:
    def __init__(self, *, url: str, token: str, plan: str, interval: float = 15.0, cache_file: str | Path | None = None,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None):
        self.plan_key, self.interval = plan, interval
        self.cache_file = Path(cache_file) if cache_file else None
        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, transport=transport,
                                    headers={"Authorization": f"Bearer {token}"})
        self._current: PlatformPlan | None = None
        self._etag: str | None = None
        self._health = SourceHealth()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._load_cache()

    def _load_cache(self) -> None:
        if self.cache_file is None or not self.cache_file.exists():
            return
        try:
            self._current = PlatformPlan.from_json(json.loads(self.cache_file.read_text()))
            self._health.source = "cache"
        except (OSError, ValueError, KeyError) as exc:
            log.warning("plan cache %s unreadable (%s); waiting for the planner", self.cache_file, type(exc).__name__)

    def refresh(self) -> bool:
        """One poll; True when the plan changed. Never raises for the planner being away: the last copy stays."""
        headers = {"If-None-Match": self._etag} if self._etag else {}
        try:
            response = self._client.get(f"/api/platform/plans/{self.plan_key}", headers=headers)
        except httpx.HTTPError as exc:
            self._health.last_error = f"the planner did not answer ({type(exc).__name__})"
            return False
        if response.status_code == 304:
            self._health.last_success, self._health.last_error = time.time(), None
            return False
        if response.status_code != 200:
            self._health.last_error = f"the planner answered {response.status_code}"
            return False
        data = response.json()
        plan = PlatformPlan.from_json(data)
        with self._lock:
            changed = self._current != plan
            self._current, self._etag = plan, response.headers.get("ETag")
        self._health.ever_fetched, self._health.last_success, self._health.last_error = True, time.time(), None
        self._health.source = "planner"
        if changed and self.cache_file is not None:
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.cache_file)  # atomic: a crash never leaves half a cache
        return changed

    def current(self) -> PlatformPlan | None:
        with self._lock:
            return self._current

    def health(self) -> SourceHealth:
        return self._health

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name=f"plan-source-{self.plan_key}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()
