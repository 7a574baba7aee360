"""The platform's runtime flag reader: one UnleashClient per process, with honest health.

UnleashClient 6.9.1 never raises on connection problems: a wrong URL, a refused token or a
stopped server are only logged, and every flag then reads False. This reader makes that visible
(``health()``), answers from a bootstrap copy until Unleash answers, and adds almost nothing to
``UnleashClient.is_enabled``.

How fetches are observed, and why this way
------------------------------------------
Every poll of the SDK goes through ``client._transport.fetch_features(etag)``, whose
``FetchResult`` is the one place where the SDK itself tells the three outcomes apart: new data
(200), unchanged (304) and failed (anything else; it never raises). The reader wraps that
method on its own client instance; that is the source of truth for ``ever_fetched``,
``last_success`` and ``last_error``. It is a private attribute, so ``start()`` checks that it is
there and fails loudly if an SDK upgrade removes it (the version is pinned in pyproject.toml).

The official hooks were tried first and are not enough (measured against Unleash 8.2.0 here):

- ``event_callback`` FETCHED fires only for a 200 with a body. Unleash answers an unchanged
  poll with 304 (the SDK sends If-None-Match), which emits nothing, so a reader fed by FETCHED
  would call a healthy, quiet server stale after ``3 * refresh_interval``. Nothing is emitted
  for a failed fetch either, and READY also fires when the SDK falls back on a disk cache left
  by an earlier process. A callback also makes ``is_enabled`` build an event object for every
  check of a flag with impression data on.
- A custom APScheduler only tells that the poll job ran, never how it went.

Two official channels add the *reason* of a failure, in plain words, to what the wrapper
knows. Both find the fetch they belong to through the id of the thread running it (the SDK
fetches synchronously, and never runs two polls of one client at once):

- a ``requests`` response hook, passed through the SDK's documented ``custom_options``: the
  HTTP status and Unleash's error message of the features request (401, 403, 404, ...);
- a handler on the SDK's ``UnleashClient`` logger, only for failures without an HTTP answer
  (connection refused, timeout, 500/502/504 after the SDK's retries): the SDK logs the
  exception and returns nothing else. If that
  logger is silenced, the failure is still detected, only its reason is vaguer ("no HTTP
  answer"). Logging is the last resort here, and it only ever adds words, never decides.

A 200 whose body is not Unleash's feature list (some proxy's HTML page) counts as a failure
and is kept out of the SDK's cache, so it can neither replace the bootstrap copy nor be
confirmed by a later 304.

Bootstrap and source
--------------------
``bootstrap`` (the client API's ``{"version", "features", "segments"}`` payload) seeds the SDK's
cache, which the SDK loads in its constructor and replaces with the first successful fetch.
``source`` is ``"bootstrap"`` until then and ``"unleash"`` afterwards (it flips as the fetch
returns, a few milliseconds before the SDK's engine takes the payload; a failure later keeps the
last live data, and ``stale`` says how old it is). Without ``cache_directory`` the cache lives in
memory: the SDK's default file cache is shared by every process of the same app name and would
silently answer from an earlier run's copy. With ``cache_directory`` the SDK's file cache is used
there; a copy left by an earlier process is loaded at start and reported as ``"cache"``. With no
copy at all the source is ``"none"`` and every flag answers its default.

Hot path and threads
--------------------
``enabled()`` reads one attribute and calls ``is_enabled`` with a fallback function made once,
so no lock and no allocation of its own. The SDK's engine is safe to query from many threads
while its poller swaps the state. Health is one frozen record, replaced whole by the poll
thread and read without a lock.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from UnleashClient import UnleashClient
from UnleashClient.cache import BaseCache, FileCache
from UnleashClient.constants import FEATURES_URL

log = logging.getLogger(__name__)

SOURCES = ("unleash", "bootstrap", "cache", "none")
MIN_STALE_SECONDS = 10.0


def stale_after(refresh_interval: float) -> float:
    """Seconds without a successful fetch after which the loaded flags count as stale."""
    return max(3.0 * refresh_interval, MIN_STALE_SECONDS)


@dataclass(frozen=True)
class ReaderHealth:
    ever_fetched: bool  # a successful fetch from Unleash has happened in this process
    last_success: datetime | None  # UTC time of the last successful fetch (200 or 304)
    last_error: str | None  # the latest fetch's problem; None once a fetch succeeds again
    stale: bool  # no successful fetch within stale_after(refresh_interval), or never
    source: str  # "unleash" | "bootstrap" | "cache" | "none": where the answers come from

    def as_dict(self) -> dict:
        data = asdict(self)
        data["last_success"] = self.last_success.isoformat() if self.last_success else None
        return data


@dataclass(frozen=True)
class FetchState:
    """What the poll thread knows; ``last_success_clock`` is ``time.monotonic()`` of it."""

    ever_fetched: bool = False
    last_success: datetime | None = None
    last_success_clock: float | None = None
    last_error: str | None = None
    source: str = "none"


def health_of(state: FetchState, *, refresh_interval: float, now: float) -> ReaderHealth:
    """The health a reader reports at monotonic time ``now``."""
    age = None if state.last_success_clock is None else now - state.last_success_clock
    return ReaderHealth(
        ever_fetched=state.ever_fetched,
        last_success=state.last_success,
        last_error=state.last_error,
        stale=age is None or age > stale_after(refresh_interval),
        source=state.source,
    )


def describe_failure(
    *,
    url: str,
    environment: str,
    status: int | None = None,
    server_message: str | None = None,
    content_type: str | None = None,
    error: BaseException | None = None,
    timeout: float | None = None,
) -> str:
    """A failed fetch of the client features in plain words (``url`` is the reader's API URL)."""
    base = url.rstrip("/")
    where = base + FEATURES_URL
    said = f" ({server_message})" if server_message else ""
    api_hint = (
        "" if base.endswith("/api")
        else f"; the URL must be the server's API URL ending in /api, e.g. {base}/api"
    )
    if status == 401:
        return (f"Unleash refused the client token with 401 at {where}{said}: set a client "
                f"(backend) API token for environment {environment!r}")
    if status == 403:
        fix = api_hint[2:] if api_hint else (
            f"the token must be a client (backend) API token for environment {environment!r}, "
            "not an admin or frontend token")
        return f"Unleash refused {where} with 403{said}: {fix}"
    if status == 404:
        return f"Unleash has no {where} (404){api_hint or ': check the URL'}"
    if status == 200:
        kind = content_type.split(";")[0] if content_type else "a body"
        return (f"{where} answered 200 with {kind} that is not Unleash's feature list"
                f"{api_hint or ': check that the URL points at the Unleash server'}")
    if status is not None:
        return f"Unleash answered {status} at {where}{said}"
    if isinstance(error, requests.exceptions.RetryError):
        return f"Unleash kept failing with server errors (5xx) at {where}"
    if isinstance(error, requests.exceptions.Timeout):
        within = f" within {timeout:g} s" if timeout else ""
        return f"Unleash at {where} did not answer{within}"
    if isinstance(error, requests.exceptions.ConnectionError):
        found = re.search(r"\[Errno -?\d+\] ([^'\"()\]]+)", str(error))
        reason = found.group(1).strip() if found else "connection failed"
        return (f"could not connect to Unleash at {where}: {reason} "
                "(is the server running, and are host and port right?)")
    if error is not None:
        return f"fetching {where} failed: {type(error).__name__}: {str(error)[:200]}"
    # No HTTP answer, and the SDK's log record (its only report of why) was switched off.
    return (f"could not reach Unleash at {where}: no HTTP answer "
            "(is the server running, and are host and port right?)")


class _Attempt:
    """What the hooks learn about one fetch while it runs."""

    __slots__ = ("content_type", "error", "server_message", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.server_message: str | None = None
        self.content_type: str | None = None
        self.error: BaseException | None = None


# Fetches running right now, by the id of the thread running each.
_ATTEMPTS: dict[int, _Attempt] = {}


def _observe_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """requests response hook: note the features request's status (register/metrics pass by)."""
    attempt = _ATTEMPTS.get(threading.get_ident())
    if attempt is None or not urlsplit(response.url).path.endswith(FEATURES_URL):
        return
    attempt.status = response.status_code
    attempt.content_type = response.headers.get("content-type")
    if response.status_code >= 400:
        try:
            message = response.json().get("message")
        except (ValueError, AttributeError):
            message = None
        attempt.server_message = str(message)[:200] if message else None


class _FetchFailureLog(logging.Handler):
    """Hands the exception the SDK logs for a failed fetch to that fetch's attempt."""

    def emit(self, record: logging.LogRecord) -> None:
        attempt = _ATTEMPTS.get(record.thread)
        if attempt is not None and record.exc_info and attempt.error is None:
            attempt.error = record.exc_info[1]


_FAILURE_LOG = _FetchFailureLog()


def _listen_to_sdk_log() -> None:
    sdk_logger = logging.getLogger("UnleashClient")
    if _FAILURE_LOG not in sdk_logger.handlers:  # again after a logging reconfiguration
        sdk_logger.addHandler(_FAILURE_LOG)


def _looks_like_feature_list(raw: str) -> bool:
    # Cheap on purpose: the payload can be megabytes and the SDK parses it right after.
    return raw.lstrip()[:1] == "{" and '"features"' in raw


class MemoryCache(BaseCache):
    """The SDK's cache, kept in this process only."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value

    def mset(self, data: dict) -> None:
        self._data.update(data)

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self._data

    def destroy(self) -> None:
        # Nothing to release; the last payload stays readable by definitions() after stop().
        pass


def _answer(value: bool) -> Callable[[str, dict], bool]:
    return lambda _name, _context: value


_ON, _OFF = _answer(True), _answer(False)


def _display_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class FlagReader:
    """Reads flags from Unleash for the platform; see the module docstring.

    ``url`` is the server's API URL as the SDKs take it (``http://127.0.0.1:4242/api``);
    ``client_token`` a client (backend) token for ``environment``. It is sent only in the
    Authorization header and never appears in ``repr()`` or ``health()``.
    """

    def __init__(
        self,
        *,
        url: str,
        client_token: str,
        app_name: str = "rollout-planner",
        environment: str = "development",
        refresh_interval: int = 15,
        bootstrap: dict | None = None,
        cache_directory: str | None = None,
        defaults: dict[str, bool] | None = None,
        request_timeout: int = 10,
        disable_metrics: bool = False,
        disable_registration: bool = False,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be the Unleash API URL like http://127.0.0.1:4242/api, "
                             f"got {_display_url(url)!r}")
        if refresh_interval < 1:
            raise ValueError(f"refresh_interval must be at least 1 second, got {refresh_interval}")
        if bootstrap is not None and not (
            isinstance(bootstrap, dict) and isinstance(bootstrap.get("features"), list)
            and isinstance(bootstrap.get("segments", []), list)
        ):
            raise ValueError("bootstrap must be the client API's payload: "
                             '{"version": 1, "features": [...], "segments": [...]}')
        self.url = url.rstrip("/")
        self.app_name = app_name
        self.environment = environment
        self.refresh_interval = refresh_interval
        self.defaults: dict[str, bool] = dict(defaults or {})
        self.request_timeout = request_timeout
        self.disable_metrics = disable_metrics
        self.disable_registration = disable_registration
        self._token = client_token
        self._secrets = tuple(s for s in {client_token, client_token.rsplit(".", 1)[-1]} if len(s) >= 6)
        self._bootstrap = json.dumps(bootstrap) if bootstrap is not None else None
        self._cache_directory = cache_directory
        self._fallback = self._default_for  # one bound method, made once
        self._client: UnleashClient | None = None
        self._cache: BaseCache | None = None
        self._state = FetchState()
        self._stopped = False
        self._lifecycle = threading.Lock()

    def __repr__(self) -> str:
        health = self.health()
        return (f"FlagReader(url={_display_url(self.url)!r}, app_name={self.app_name!r}, "
                f"environment={self.environment!r}, source={health.source!r}, stale={health.stale})")

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Create and initialise this reader's one UnleashClient; the first fetch happens here."""
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("this FlagReader was stopped; create a new one")
            if self._client is not None:
                return
            cache, source = self._make_cache()
            client = UnleashClient(
                url=self.url,
                app_name=self.app_name,
                environment=self.environment,
                refresh_interval=self.refresh_interval,
                request_timeout=self.request_timeout,
                disable_metrics=self.disable_metrics,
                disable_registration=self.disable_registration,
                custom_headers={"Authorization": self._token},
                custom_options={"hooks": {"response": [_observe_response]}},
                cache=cache,
            )
            transport = getattr(client, "_transport", None)
            fetch = getattr(transport, "fetch_features", None)
            if fetch is None:
                client.destroy()
                raise RuntimeError("this UnleashClient has no _transport.fetch_features to watch; "
                                   "flags/reader.py must be adapted to the installed SDK version")
            transport.fetch_features = partial(self._observed_fetch, fetch)
            _listen_to_sdk_log()
            self._cache, self._state = cache, FetchState(source=source)
            self._client = client  # before the first fetch: answer from the bootstrap meanwhile
            try:
                client.initialize_client()
            except Exception:
                self._client = None
                client.destroy()
                raise

    def stop(self) -> None:
        """Stop polling (``destroy()``); ``enabled()`` keeps answering from the last data."""
        with self._lifecycle:
            self._stopped = True
            if self._client is not None:
                self._client.destroy()

    def _make_cache(self) -> tuple[BaseCache, str]:
        if self._cache_directory is None:
            cache: BaseCache = MemoryCache()
            if self._bootstrap is not None:
                cache.set(FEATURES_URL, self._bootstrap)
                cache.bootstrapped = True
                return cache, "bootstrap"
            return cache, "none"
        file_cache = FileCache(self.app_name, directory=self._cache_directory)
        if self._bootstrap is not None:
            file_cache.bootstrap_from_dict(json.loads(self._bootstrap))
            return file_cache, "bootstrap"
        if file_cache.get(FEATURES_URL):
            file_cache.bootstrapped = True  # what an earlier process fetched: load it now
            return file_cache, "cache"
        return file_cache, "none"

    # -- answers --------------------------------------------------------------------------

    def enabled(self, flag: str, context: dict, *, default: bool | None = None) -> bool:
        """Is ``flag`` on for ``context``? An unknown flag answers ``default``, else
        ``self.defaults.get(flag, False)``."""
        client = self._client
        if client is None:
            return self._default_for(flag, context) if default is None else bool(default)
        if default is None:
            return client.is_enabled(flag, context, self._fallback)
        return client.is_enabled(flag, context, _ON if default else _OFF)

    def enabled_features(self, context: dict, flags: list[str] | None = None) -> list[str]:
        """The flags (all known ones and those with a default, or ``flags``) on for ``context``."""
        if flags is None:
            client = self._client
            known = client.feature_definitions() if client is not None else {}
            flags = sorted(set(known) | set(self.defaults))
        return [flag for flag in flags if self.enabled(flag, context)]

    def definitions(self) -> dict:
        """The client API payload the SDK holds now; a valid ``bootstrap`` for another reader."""
        raw = self._cache.get(FEATURES_URL) if self._cache is not None else None
        payload = json.loads(raw) if raw else {}
        return {
            "version": payload.get("version", 1),
            "features": payload.get("features", []),
            "segments": payload.get("segments", []),
        }

    def health(self) -> ReaderHealth:
        return health_of(self._state, refresh_interval=self.refresh_interval, now=time.monotonic())

    def _default_for(self, flag: str, _context: dict) -> bool:
        return bool(self.defaults.get(flag, False))

    # -- watching the SDK's fetches (poll thread) ------------------------------------------

    def _observed_fetch(self, fetch: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        attempt = _Attempt()
        thread = threading.get_ident()
        _ATTEMPTS[thread] = attempt
        try:
            result = fetch(*args, **kwargs)
        finally:
            _ATTEMPTS.pop(thread, None)
        if result.raw_state and not _looks_like_feature_list(result.raw_state):
            result = result._replace(raw_state=None, etag="")  # keep it out of the SDK's cache
        elif result.raw_state or result.not_modified:
            self._state = FetchState(
                ever_fetched=True,
                last_success=datetime.now(UTC),
                last_success_clock=time.monotonic(),
                source="unleash",
            )
            return result
        try:
            message = self._scrub(describe_failure(
                url=_display_url(self.url), environment=self.environment,
                status=attempt.status, server_message=attempt.server_message,
                content_type=attempt.content_type, error=attempt.error,
                timeout=self.request_timeout,
            ))
        except Exception:  # never break the SDK's poll over a message
            log.exception("could not describe a failed Unleash fetch")
            message = f"fetching {_display_url(self.url)}{FEATURES_URL} failed"
        self._state = replace(self._state, last_error=message)
        return result

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
