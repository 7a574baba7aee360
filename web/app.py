"""The FastAPI app: pages for leads (Jinja2 + HTMX), the JSON API, health, static files."""

from __future__ import annotations

import base64
import gc
import hashlib
import re
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from planner.db import open_pool
from services import logs
from services.join_queue import JoinQueue
from services.readiness import UnleashCheck
from services.settings import Settings
from services.sync import LeaseTiming
from web import errors
from web.auth import NotSignedIn
from web.rendering import compile_templates
from web.observe import RequestLog
from web.security import POLICY, BodyLimit, SecurityHeaders
from web.routes import (api, audit, health, kpis, phases, pilot, pilot_api, plan_page, plans, preview, roster, session, sync,
                        tokens, webhooks)

HERE = Path(__file__).resolve().parent
HTMX = HERE / "assets" / "node_modules" / "htmx.org" / "dist"
SWAGGER = HERE / "assets" / "node_modules" / "swagger-ui-dist"


@asynccontextmanager
async def background_work(app: FastAPI):
    """The flag reader ("My features" asks the real Unleash; it runs only while used), the opt-in pusher and
    the controller, one each per process (one controller leads)."""
    from flags.on_demand import ReaderOnDemand
    from flags.reader import FlagReader
    from services.membership_push import MembershipPusher

    config: Settings = app.state.settings
    client_token = config.unleash_client_token.get_secret_value()
    started = []
    if config.background and client_token:
        reader = ReaderOnDemand(
            lambda: FlagReader(url=config.unleash_url, client_token=client_token, app_name="rollout-planner",
                               environment=config.environment, refresh_interval=config.reader_refresh_interval),
            environment=config.environment, idle_after=config.reader_idle_seconds)
        app.state.reader = reader
        started.append(reader.stop)
    if config.background and app.state.admin is not None:
        # a push round holds the plan's lease as long as a sync does: a killed process's lapses as soon
        pusher = MembershipPusher(database_url=config.database_url, admin=app.state.admin,
                                  interval=config.push_interval, lease=app.state.lease_timing.hold)
        pusher.start()
        app.state.pusher = pusher
        started.append(pusher.stop)
    if config.background and config.controller and app.state.admin is not None:
        from services.controller import Controller

        # every process runs one; the one holding the database lease does the rounds, the others wait
        controller = Controller(database_url=config.database_url, admin=app.state.admin,
                                interval=config.controller_interval, drift_every=config.drift_check_seconds,
                                timing=app.state.lease_timing)
        controller.start()
        app.state.controller = controller
        started.append(controller.stop)
    if config.background:
        from services.webhooks import WebhookSender

        sender = WebhookSender(database_url=config.database_url)  # every process posts; each delivery once
        sender.start()
        started.append(sender.stop)
    if config.background:  # a real server (not a test's app): connections before the first requests
        open_pool(config.database_url)
    # Everything made so far (modules, templates, the app) lives as long as the process: frozen, the
    # collector stops walking it: a full collection under load took 5-18 ms instead of 100-200 ms
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        app.state.join_queue.stop()  # writes what is queued
        for stop in started:
            stop()
        if app.state.admin is not None:
            app.state.admin.close()


def create_app(*, settings: Settings | None = None) -> FastAPI:
    """The app, with the settings read once (from the environment unless given): one admin client, one
    opt-in writer per process, on `app.state`."""
    config = (settings or Settings()).for_web()
    app = FastAPI(title="Rollout planner", version="0.1.0", docs_url=None, lifespan=background_work,
                  description="Plan a phased rollout and enforce it with Unleash feature flags.")
    app.state.settings = config
    compile_templates()
    app.state.join_queue = JoinQueue(config.database_url)
    app.state.admin = config.admin() if config.unleash_admin_token.get_secret_value() else None
    app.state.unleash_check = UnleashCheck(app.state.admin)
    logs.redact(config.unleash_admin_token.get_secret_value(), config.unleash_client_token.get_secret_value(),
                config.session_secret.get_secret_value())
    app.state.lease_timing = LeaseTiming.of(config)
    app.add_middleware(SessionMiddleware, secret_key=config.session_secret.get_secret_value(),
                       session_cookie="planner_session", same_site="lax", https_only=config.cookies_secure)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestLog)  # the last added runs first: it times and logs the others' answers too
    app.mount("/static/vendor/swagger", StaticFiles(directory=SWAGGER, check_dir=False), name="swagger")
    app.mount("/static/vendor", StaticFiles(directory=HTMX, check_dir=False), name="vendor")

    @app.get("/docs", include_in_schema=False)
    def api_docs():
        """The API docs, with Swagger UI served from our pinned copy (no CDN). Its page starts Swagger UI
        with an inline script, allowed by its hash alone; Swagger UI styles its elements inline."""
        page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI",
                                   swagger_js_url="/static/vendor/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/vendor/swagger/favicon-32x32.png")
        hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                          for script in re.findall(r"<script>(.*?)</script>", page.body.decode(), re.S))
        page.headers["Content-Security-Policy"] = POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}") \
            .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        return page
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # plan_page last: its /plans/{key}/{kind} would otherwise catch /preview and /sync
    for router in (health.router, session.router, api.router, phases.api, phases.approvals_api, pilot_api.router, pilot.router,
                   plans.router, preview.router, sync.router, roster.router, audit.router, tokens.router, phases.pages, webhooks.router,
                   kpis.api, kpis.pages, plan_page.router):
        app.include_router(router)

    @app.exception_handler(NotSignedIn)
    def _sign_in(request: Request, _exc: NotSignedIn):
        if request.url.path.startswith("/api/") or not config.dev_login:
            return JSONResponse({"detail": "sign in first (through the company's single sign-on)"}, status_code=401)
        target = f"/login?next={request.url.path}"
        if request.headers.get("HX-Request") == "true":
            return HTMLResponse("", status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    errors.install(app)

    return app
