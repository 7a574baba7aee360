"""One place that turns the planner's and Unleash's error trees into HTTP answers: JSON for the API and
scripts, the error page for a browser. A route catches an error itself only to re-render a form inline."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from flags.errors import UnleashError, UnleashUnavailable
from planner.errors import ApprovalPending, Conflict, Invalid, NotConfigured, NotFound, PlannerError, Refused


# the first that matches; any other Unleash error (our token refused, a request refused) is the planner's
# trouble with its upstream, not the caller's: 502
STATUSES = ((NotFound, 404), ((Invalid, Refused), 422), (Conflict, 409), ((NotConfigured, UnleashUnavailable), 503),
            (UnleashError, 502), (ApprovalPending, 202))


def status_of(exc: Exception) -> int:
    return next((status for kinds, status in STATUSES if isinstance(exc, kinds)), 500)


def message_of(exc: Exception) -> str:
    if isinstance(exc, UnleashError):
        return f"Unleash: {exc}"
    return str(exc)


def error_response(request: Request, status: int, detail, headers: dict[str, str] | None = None):
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    from web.rendering import render

    response = render(request, "error.html", {"status": status, "detail": detail}, status=status)
    response.headers.update(headers or {})  # the error page keeps Allow and Retry-After too
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at the request's path. Starlette's 405 names those of the first route
    that matched the path only, and a path may have a route per method (GET and POST /api/plans/{key}/syncs)."""
    found = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {"type": "http", "method": method, "path": request.scope["path"],
                 "root_path": request.scope.get("root_path", ""), "headers": [], "query_string": b""}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            found.append(method)
    return found


def install(app: FastAPI) -> None:
    @app.exception_handler(PlannerError)
    @app.exception_handler(UnleashError)
    def _domain_error(request: Request, exc: Exception):
        return error_response(request, status_of(exc), message_of(exc))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    def _database_away(request: Request, _exc: Exception):
        # the database restarting or unreachable: nothing was answered as done, the caller may try again
        return error_response(request, 503, "the planner's database is not reachable just now; try again in a moment",
                              {"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    def _invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI's own answer, without echoing the input: it may be NaN (not JSON, so a 500) or 100 kB long
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return error_response(request, 422, detail)

    @app.exception_handler(HTTPException)
    def _http_error(request: Request, exc: HTTPException):
        return error_response(request, exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(405)
    def _method_not_allowed(request: Request, exc: StarletteHTTPException):
        # a route's 405 (the router's, Starlette's exception class): its Allow header kept, and made whole
        headers = dict(exc.headers or {})
        if "Allow" in headers:
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers["Allow"]
        return error_response(request, 405, exc.detail, headers)
