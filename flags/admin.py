"""Typed client for the Unleash 8.2 admin API: one method per endpoint, errors from flags.errors."""

from __future__ import annotations

import copy
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client import Counter

from flags import paths
from flags.limits import ResourceLimits
from flags.errors import (
    UnleashAuthError,
    UnleashConflict,
    UnleashError,
    UnleashNotFound,
    UnleashRefused,
    UnleashUnavailable,
)
from planner import request_id

log = logging.getLogger(__name__)

# Only these are retried: repeating them cannot apply a change twice.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Transport errors raised before any byte of the request left this process.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Parallel GETs in read_project_state; more gains nothing (measured: see its docstring).
READ_CONCURRENCY = 4
# characters of the server's own words kept in an error (it echoes what it refused, of any size)
MAX_SERVER_MESSAGE = 500
# The raw client metrics of one flag (the path belongs with the others in flags.paths).
FEATURE_METRICS_RAW = "/api/admin/client-metrics/features/{feature}/raw"
# Unleash 8.2 deletes hourly client metrics older than this (clearMetrics(48)) and serves at most
# this many hours back; a larger hoursBack is silently ignored and 24 served instead.
METRICS_HOURS_KEPT = 48
# every write of every client of the process (a run's counting view counts once, in its parent)
ADMIN_WRITES = Counter("planner_unleash_admin_writes", "Writes sent to the Unleash Admin API (retries included)")


def _tag_request(request: httpx.Request) -> None:
    """Each Admin API call carries the id of the request (or round) it is made for, as Unleash's logs may show."""
    current = request_id.current()
    if current:
        request.headers[request_id.HEADER] = current


@dataclass
class FlagState:
    """One flag as Unleash has it, for one environment."""

    name: str
    description: str
    type: str
    enabled: bool
    strategies: list[dict] = field(default_factory=list)
    archived: bool = False


@dataclass
class ProjectState:
    """Every flag of a project (active; archived on request) in one environment, all segments."""

    project: str
    environment: str
    flags: dict[str, FlagState]
    segments: list[dict]


def normalise_strategy(strategy: dict[str, Any]) -> dict[str, Any]:
    """One shape for a strategy whichever endpoint returned it, so that states compare equal."""
    return {
        "id": strategy.get("id"),
        "name": strategy.get("name"),
        "title": strategy.get("title") or None,
        "parameters": dict(strategy.get("parameters") or {}),
        "constraints": list(strategy.get("constraints") or []),
        "segments": sorted(strategy.get("segments") or []),
        "disabled": bool(strategy.get("disabled") or False),
        "sortOrder": strategy.get("sortOrder"),
        "variants": list(strategy.get("variants") or []),
    }


def _server_root(base_url: str) -> str:
    """``http://h:4242/api`` (the SDKs' API URL), ``.../api/admin`` and ``http://h:4242``
    all -> ``http://h:4242/``."""
    url = base_url.strip().rstrip("/")
    for suffix in ("/api/admin", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url + "/"


class UnleashAdmin:
    """The Unleash admin API over one long-lived ``httpx.Client``.

    ``base_url`` is the server's API URL as the SDKs take it (``http://127.0.0.1:4242/api``);
    the server root works too. ``token`` must be an admin API token (``*:*.<secret>``); it is
    sent in the Authorization header and never appears in an error, a repr or a log line.

    GET, PUT and DELETE are retried ``retries`` times on transport errors and 5xx answers with
    a short exponential backoff; POST and PATCH never are. ``writes`` counts every
    POST/PUT/PATCH/DELETE that was sent (including retries; not those refused before connecting).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        backoff: float = 0.1,
    ) -> None:
        self.base_url = _server_root(base_url)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.writes = 0
        self._writes_lock = threading.Lock()  # the reconciler writes from several threads
        self._parent: UnleashAdmin | None = None
        self._secrets = tuple(s for s in {token, token.rsplit(".", 1)[-1]} if len(s) >= 6)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": token,
                "Accept": "application/json",
                "User-Agent": "rollout-planner",
            },
            timeout=timeout,
            transport=transport,
            event_hooks={"request": [_tag_request]},
        )

    def __repr__(self) -> str:
        return f"UnleashAdmin(base_url={self.base_url!r})"

    def close(self) -> None:
        if self._parent is None:  # a run's counting view shares its parent's client
            self._client.close()

    def __enter__(self) -> UnleashAdmin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- server ---------------------------------------------------------------------------

    def health(self) -> bool:
        """True when the server answers its health check; never raises."""
        try:
            self._request("GET", paths.HEALTH)
        except UnleashError:
            return False
        return True

    def resource_limits(self) -> ResourceLimits:
        return ResourceLimits.from_ui_config(self._request("GET", paths.UI_CONFIG))

    # -- flags ----------------------------------------------------------------------------

    def list_features(self, project: str) -> list[dict]:
        return self._request("GET", _path(paths.PROJECT_FEATURES, project=project))["features"]

    def get_feature(self, project: str, name: str) -> dict:
        """The flag with ``environments[].strategies`` of every environment."""
        return self._request("GET", _path(paths.FEATURE, project=project, feature=name))

    def create_feature(
        self, project: str, *, name: str, description: str, type: str = "release"
    ) -> dict:
        body = {"name": name, "description": description, "type": type}
        return self._request("POST", _path(paths.PROJECT_FEATURES, project=project), json=body)

    def update_feature(self, project: str, name: str, *, description: str) -> None:
        # PATCH, not PUT: PUT takes the whole flag and resets fields left out (type -> release).
        patch = [{"op": "replace", "path": "/description", "value": description}]
        self._request("PATCH", _path(paths.FEATURE, project=project, feature=name), json=patch)

    def archive_feature(self, project: str, name: str) -> None:
        self._request("DELETE", _path(paths.FEATURE, project=project, feature=name))

    def list_archived_features(self, project: str) -> list[dict]:
        return self._search_features({"project": f"IS:{project}", "archived": "IS:true"})

    def revive_feature(self, project: str, name: str) -> None:
        """Bring an archived flag back (disabled in every environment, strategies kept).

        The project endpoint answers 200 and does nothing for a name that is not archived
        (and never disables an active flag, unlike ``/api/admin/archive/revive/{name}``),
        so one GET afterwards tells whether the flag is really back.
        """
        path = _path(paths.PROJECT_REVIVE, project=project)
        self._request("POST", path, json={"features": [name]})
        try:
            self.get_feature(project, name)
        except UnleashNotFound:
            raise UnleashNotFound(
                f"Unleash project {project!r} has no archived flag {name!r} to revive",
                method="POST", path=path, status=None,
            ) from None

    def delete_archived_features(self, project: str, names: list[str]) -> None:
        """Delete archived flags for good; the server ignores names not archived or unknown."""
        body = {"features": list(names)}
        self._request("POST", _path(paths.PROJECT_DELETE_FEATURES, project=project), json=body)

    # -- strategies and environment toggles ----------------------------------------------

    def list_strategies(self, project: str, feature: str, environment: str) -> list[dict]:
        path = _path(paths.STRATEGIES, project=project, feature=feature, environment=environment)
        return self._request("GET", path)

    def add_strategy(self, project: str, feature: str, environment: str, body: dict) -> dict:
        path = _path(paths.STRATEGIES, project=project, feature=feature, environment=environment)
        return self._request("POST", path, json=body)

    def update_strategy(
        self, project: str, feature: str, environment: str, strategy_id: str, body: dict
    ) -> dict:
        path = _path(
            paths.STRATEGY,
            project=project, feature=feature, environment=environment, strategy_id=strategy_id,
        )
        return self._request("PUT", path, json=body)

    def delete_strategy(
        self, project: str, feature: str, environment: str, strategy_id: str
    ) -> None:
        path = _path(
            paths.STRATEGY,
            project=project, feature=feature, environment=environment, strategy_id=strategy_id,
        )
        self._request("DELETE", path)

    def set_environment_enabled(
        self, project: str, feature: str, environment: str, enabled: bool
    ) -> None:
        template = paths.FEATURE_ENVIRONMENT_ON if enabled else paths.FEATURE_ENVIRONMENT_OFF
        path = _path(template, project=project, feature=feature, environment=environment)
        self._request("POST", path)

    # -- segments -------------------------------------------------------------------------

    def list_segments(self) -> list[dict]:
        return self._request("GET", paths.SEGMENTS)["segments"]

    def create_segment(self, body: dict) -> dict:
        return self._request("POST", paths.SEGMENTS, json=body)

    def update_segment(self, segment_id: int, body: dict) -> None:
        self._request("PUT", _path(paths.SEGMENT, segment_id=segment_id), json=body)

    def delete_segment(self, segment_id: int) -> None:
        """Delete a segment; UnleashConflict while a strategy still uses it."""
        try:
            self._request("DELETE", _path(paths.SEGMENT, segment_id=segment_id))
        except UnleashConflict as exc:
            if exc.server_message:
                raise
            # Unleash 8.2 answers this 409 with an empty body.
            raise UnleashConflict(
                f"Unleash refused DELETE {exc.path} with 409: segment {segment_id} is still "
                "used by a strategy; remove it from every strategy first",
                method=exc.method, path=exc.path, status=exc.status,
            ) from None

    # -- client metrics -------------------------------------------------------------------

    def feature_metrics(self, name: str, *, hours_back: int = METRICS_HOURS_KEPT) -> list[dict]:
        """The ``data`` rows of the flag's raw client metrics: one per hour, app and environment
        (``{featureName, appName, environment, timestamp, yes, no, variants}``) over the last
        ``hours_back`` hours; ``flags.metrics.served_hours`` parses them.

        Unleash answers 200 with no rows for a flag it does not know, as for one never evaluated.
        """
        if not 1 <= hours_back <= METRICS_HOURS_KEPT:
            # the server would fall back to 24 hours without a word
            raise ValueError(f"hours_back must be 1 to {METRICS_HOURS_KEPT}, not {hours_back!r}")
        path = _path(FEATURE_METRICS_RAW, feature=name)
        body = self._request("GET", path, params={"hoursBack": str(hours_back)})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise UnleashRefused(
                f"Unleash answered GET {path} without a list of metrics (data); "
                "check that the URL points at an Unleash 8.x server",
                method="GET", path=path, status=200,
            )
        return data

    # -- whole project --------------------------------------------------------------------

    def read_project_state(
        self, project: str, environment: str, *, include_archived: bool = False
    ) -> ProjectState:
        """Every flag of ``project`` with its state in ``environment``, and every segment.

        Reads the project's flag list (enabled, description, type and ``hasStrategies`` per
        environment) in one GET, then the environment's strategies only of flags that have
        any, ``READ_CONCURRENCY`` GETs at a time, then the segments. Strategies come back in
        ``normalise_strategy`` shape, in the server's order (sortOrder).

        Measured on unleash-server 8.2.0 here (2 cores, server and Postgres on the same
        machine), 285 flags with 282 having 2 strategies each in the environment, medians of 5:

        - POST /api/admin/features-batch/export {project, environment}: 52 ms (1 request)
        - list + GET /features/{f} per flag, one at a time: 1642 ms
        - this method with 1 / 2 / 4 / 8 GETs in parallel: 1139 / 756 / 648 / 673 ms

        (135 flags: export 44 ms, this method 687 / 482 / 456 / 393 ms.) The export is one
        request but is not used: its strategies lack ``sortOrder`` (and come in no defined
        order within a flag), and every call stores the whole export (440 kB for 285 flags)
        as a ``features-exported`` event in Unleash's event log, which a reconciler reading
        on each sync would flood. ``/api/admin/search/features`` and the project flag list
        give only ``hasStrategies``, not the strategies. More than 4 parallel GETs gains
        nothing on this server.

        ``include_archived`` adds archived flags (``archived=True``, no strategies). That
        needs ``/api/admin/search/features``, which Unleash rate-limits to 15 requests a
        minute per client IP (SEARCH_FEATURES_RATE_LIMIT_PER_MINUTE), so it is off by default:
        ask for it only when a wanted flag is missing from the active ones.
        """
        features = self.list_features(project)
        if not features:
            # An unknown project lists as empty (200): make sure it exists.
            self._request("GET", _path(paths.PROJECT_OVERVIEW, project=project))
        flags: dict[str, FlagState] = {}
        to_read: list[str] = []
        for feature in features:
            env = next(
                (e for e in feature.get("environments") or [] if e.get("name") == environment), None
            )
            if env is None:
                path = _path(paths.PROJECT_FEATURES, project=project)
                raise UnleashNotFound(
                    f"Unleash project {project!r} has no environment {environment!r} "
                    f"(flag {feature['name']!r} lacks it); check the plan's unleash.environment",
                    method="GET", path=path, status=None,
                )
            flags[feature["name"]] = FlagState(
                name=feature["name"],
                description=feature.get("description") or "",
                type=feature.get("type") or "release",
                enabled=bool(env.get("enabled")),
            )
            if env.get("hasStrategies", True):
                to_read.append(feature["name"])

        def strategies_of(name: str) -> list[dict] | None:
            try:
                return self.list_strategies(project, name, environment)
            except UnleashNotFound:  # archived or deleted since the list was read
                return None

        with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
            for name, strategies in zip(to_read, pool.map(request_id.carried(strategies_of), to_read)):
                if strategies is None:
                    del flags[name]
                else:
                    flags[name].strategies = sorted(
                        map(normalise_strategy, strategies), key=_strategy_order
                    )
        if include_archived:
            for feature in self.list_archived_features(project):
                flags.setdefault(
                    feature["name"],
                    FlagState(
                        name=feature["name"],
                        description=feature.get("description") or "",
                        type=feature.get("type") or "release",
                        enabled=False,
                        archived=True,
                    ),
                )
        return ProjectState(
            project=project, environment=environment, flags=flags, segments=self.list_segments()
        )

    # -- plumbing -------------------------------------------------------------------------

    def _search_features(self, filters: dict[str, str], page_size: int = 100) -> list[dict]:
        found: list[dict] = []
        while True:
            params = {**filters, "offset": str(len(found)), "limit": str(page_size)}
            page = self._request("GET", paths.FEATURE_SEARCH, params=params)
            features = page.get("features") or []
            found.extend(features)
            if not features or len(found) >= int(page.get("total") or 0):
                return found

    def counting(self) -> UnleashAdmin:
        """The same client (connection pool, retries) with a write counter of its own, for one run: the
        process's long-lived client is shared by syncs, the opt-in pusher and health checks at once.
        Its writes count in this client's counter too. Closing it closes nothing."""
        run = copy.copy(self)
        run.writes, run._writes_lock, run._parent = 0, threading.Lock(), self
        return run

    def _count_write(self) -> None:
        with self._writes_lock:
            self.writes += 1
        if self._parent is not None:
            self._parent._count_write()
        else:
            ADMIN_WRITES.inc()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Send one request (retrying idempotent ones), return its JSON body or None."""
        attempts = 1 + (self.retries if method in _IDEMPOTENT else 0)
        counts = method in _WRITES
        maybe_applied = False  # an earlier attempt may have reached the server
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                response = self._client.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                if counts and sent:
                    self._count_write()
                maybe_applied = maybe_applied or sent
                failure: UnleashError = self._unavailable(method, path, exc, attempt)
            else:
                if counts:
                    self._count_write()
                log.debug(
                    "%s %s -> %s in %.1f ms",
                    method, path, response.status_code, 1000 * (time.perf_counter() - started),
                )
                if response.status_code == 429:
                    # The limit is per minute: waiting out the window is the caller's call.
                    raise self._http_error(method, path, response, attempt)
                if response.status_code == 404 and method == "DELETE" and maybe_applied:
                    # The attempt whose answer was lost did delete it.
                    return None
                if response.status_code < 500:
                    return self._result(method, path, response)
                maybe_applied = True
                failure = self._http_error(method, path, response, attempt)
            if attempt < attempts:
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning("%s %s failed (%s); retry %d in %.2f s", method, path, failure, attempt, delay)
                time.sleep(delay)
        raise failure

    def _result(self, method: str, path: str, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise self._http_error(method, path, response, 1)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            if path == paths.HEALTH:
                return response.text
            raise UnleashRefused(
                f"Unleash answered {method} {path} with a body that is not JSON; "
                "check that the URL points at the Unleash server",
                method=method, path=path, status=response.status_code,
            ) from None

    def _unavailable(
        self, method: str, path: str, exc: httpx.TransportError, attempts: int
    ) -> UnleashUnavailable:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        after = f" after {attempts} attempts" if attempts > 1 else ""
        unsure = (
            "; the change may or may not have been applied"
            if method in _WRITES and not isinstance(exc, _NOT_SENT) else ""
        )
        message = (
            f"Unleash at {self.base_url} is unavailable: {method} {path} {kind}{after} "
            f"({type(exc).__name__}: {self._scrub(str(exc)) or 'no detail'}){unsure}"
        )
        return UnleashUnavailable(message, method=method, path=path, status=None)

    def _http_error(
        self, method: str, path: str, response: httpx.Response, attempts: int
    ) -> UnleashError:
        status = response.status_code
        error_name, server_message = self._server_error(response)
        said = f": {server_message}" if server_message else ""
        named = f"{error_name}" if error_name else f"HTTP {status}"
        common = {
            "method": method, "path": path, "status": status,
            "server_message": server_message, "error_name": error_name,
        }
        if status == 429:
            wait = response.headers.get("Retry-After")
            later = f"; try again in {wait} s" if wait else "; try again later"
            return UnleashUnavailable(
                f"Unleash is rate-limiting {method} {path} (429){later}{said}", **common
            )
        if status >= 500:
            after = f" after {attempts} attempts" if attempts > 1 else ""
            return UnleashUnavailable(
                f"Unleash at {self.base_url} failed {method} {path} with {status}{after}{said}", **common
            )
        if status in (401, 403):
            return UnleashAuthError(
                f"Unleash refused {method} {path} with {status} ({named}): check that the token "
                "is an admin API token (not a client/backend or frontend token) and that the "
                f"URL is the server's API URL ending in /api (now {self.base_url}api){said}",
                **common,
            )
        if status == 404:
            return UnleashNotFound(f"Unleash has no {method} {path} (404){said}", **common)
        if status == 409:
            return UnleashConflict(f"Unleash refused {method} {path} with 409 ({named}){said}", **common)
        return UnleashRefused(f"Unleash refused {method} {path} with {status} ({named}){said}", **common)

    def _server_error(self, response: httpx.Response) -> tuple[str | None, str | None]:
        """(error name, message) from Unleash's error body ``{name, message, details}``."""
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()[:MAX_SERVER_MESSAGE]
            return None, self._scrub(text) or None
        if not isinstance(body, dict):
            return None, self._scrub(str(body)[:MAX_SERVER_MESSAGE])
        details = body.get("details") or []
        message = str(body.get("message") or "")
        if details:
            message = message.replace(" Refer to the `details` list for more information.", "")
        messages = [message] if message else []
        for detail in details:
            text = detail.get("message") or detail.get("description") if isinstance(detail, dict) else detail
            if text and not any(str(text) in m for m in messages):
                messages.append(str(text))
        name = body.get("name")
        said = self._scrub(" ".join(messages))
        if len(said) > MAX_SERVER_MESSAGE:
            said = said[:MAX_SERVER_MESSAGE] + f"… ({len(said) - MAX_SERVER_MESSAGE} more characters)"
        return (str(name) if name else None), (said or None)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _strategy_order(strategy: dict) -> tuple:
    order = strategy.get("sortOrder")
    return (order if isinstance(order, (int, float)) else float("inf"), str(strategy.get("id")))


def _path(template: str, **params: object) -> str:
    return template.format(**{k: quote(str(v), safe="") for k, v in params.items()})
