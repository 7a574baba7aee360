"""Every request: a request id (the caller's `X-Request-ID` when sane, else a new one, sent back), one log line,
and its count and latency by route template (`/plans/{key}`, never the raw path) for /metrics."""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planner import request_id

log = logging.getLogger("web.requests")
REQUESTS = Counter("planner_http_requests", "HTTP requests answered, by method, route template and status",
                   ["method", "route", "status"])
SECONDS = Histogram("planner_http_request_duration_seconds", "Time to answer an HTTP request, by method and route "
                    "template", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # a path no route took (a 404): its raw path would make a label per typo


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


class RequestLog:
    """Plain ASGI, outermost but for Starlette's error handler: it sees the answers of the other middleware too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"x-request-id"), None)
        current = request_id.sane(given) or request_id.new()
        status = 500  # unless an answer starts
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[request_id.HEADER] = current
            await send(message)

        with request_id.bound(current):  # a sync route runs in a thread with a copy of this context
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._told(scope, status, time.perf_counter() - started)

    @staticmethod
    def _told(scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = route_of(scope)
        REQUESTS.labels(method, route, str(status)).inc()
        SECONDS.labels(method, route).observe(seconds)
        log.log(logging.WARNING if status >= 500 else logging.INFO, "%s %s %d %.1f ms", method, route, status,
                1000 * seconds, extra={"method": method, "route": route, "path": scope["path"], "status": status,
                                       "duration_ms": round(1000 * seconds, 2)})
