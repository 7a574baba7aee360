"""A tiny intranet — the collaboration platform — whose pages are behind the planner's flags.

Run: `make run` starts it on http://127.0.0.1:8001 beside the planner, or by hand:
    UNLEASH_URL=... UNLEASH_CLIENT_TOKEN=... uvicorn examples.platform.app:create_app --factory --port 8001
Settings: PLATFORM_PLANNER_URL and PLATFORM_PLANNER_TOKEN (a `planner token create` token): the plan is read
from the planner and kept fresh, so a feature added in the planner appears here without a restart
(PLATFORM_PLAN: its key, default intranet-rollout; PLATFORM_PLAN_INTERVAL: seconds between polls, default 5;
PLATFORM_PLAN_CACHE: the last copy, kept for when the planner is down). Without them, PLATFORM_PLAN_FILE (a plan
file read once; default the demo plan). PLATFORM_BOOTSTRAP (a file from `planner bootstrap PLAN`, used until
Unleash answers), PLATFORM_REFRESH_INTERVAL (seconds between polls of Unleash; default 1).
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from html import escape
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from flags.plan_source import PlanSource
from flags.platform import PlatformFlags, PlatformUser, UnknownFeature
from flags.reader import FlagReader
from planner.planfile import load_plan

ROOT = Path(__file__).resolve().parents[2]
CONTENT = {
    "innovation-blog": "Latest post: <em>“Ten ideas from the Hamburg hackathon”</em> — 14 comments.",
    "wiki": "Most read: <em>Onboarding checklist</em>, <em>Travel policy</em>, <em>Who owns what</em>.",
    "microblog": "<em>@ben</em>: the new coffee machine on floor 3 is here ☕",
    "communities": "Communities: Data &amp; AI · Running club · Parents at work",
}


def current_user(request: Request) -> PlatformUser | None:
    raw = request.cookies.get("intranet_user")
    if not raw:
        return None
    data = json.loads(raw)
    return PlatformUser(data["id"], data.get("attributes", {}))


def signed_in(request: Request) -> PlatformUser:
    from fastapi import HTTPException

    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first")
    return user


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · Intranet</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2330}}
a{{color:#2456c8}} .muted{{color:#5d6677}} nav a{{margin-right:1rem}} .card{{border:1px solid #d9dee7;border-radius:8px;padding:1rem}}</style>
</head><body><nav><a href="/">Intranet</a></nav><h1>{escape(title)}</h1>{body}</body></html>""", status_code=status)


def plan_and_flags(reader_for) -> tuple[PlanSource | None, PlatformFlags]:
    """Live from the planner when PLATFORM_PLANNER_URL is set, else from a plan file read once."""
    planner_url = os.environ.get("PLATFORM_PLANNER_URL")
    if planner_url:
        source = PlanSource(url=planner_url, token=os.environ.get("PLATFORM_PLANNER_TOKEN", ""),
                            plan=os.environ.get("PLATFORM_PLAN", "intranet-rollout"),
                            interval=float(os.environ.get("PLATFORM_PLAN_INTERVAL", "5")),
                            cache_file=os.environ.get("PLATFORM_PLAN_CACHE") or None)
        # a feature the plan gains later is off until Unleash says otherwise
        return source, PlatformFlags(reader_for(), source, defaults={}, new_feature_default=False)
    plan = load_plan(Path(os.environ.get("PLATFORM_PLAN_FILE", ROOT / "examples" / "intranet-rollout.yaml")).read_text())
    # explicit defaults: what a page does when Unleash has never answered
    return None, PlatformFlags(reader_for(), plan, defaults={f.key: False for f in plan.features})


def create_app() -> FastAPI:
    bootstrap_file = os.environ.get("PLATFORM_BOOTSTRAP")
    token = os.environ.get("UNLEASH_CLIENT_TOKEN", "")

    def reader_for() -> FlagReader:
        return FlagReader(url=os.environ.get("UNLEASH_URL", "http://127.0.0.1:4242/api"), client_token=token,
                          app_name="intranet-example", environment=token.split(":", 1)[-1].split(".", 1)[0] or "development",
                          refresh_interval=int(os.environ.get("PLATFORM_REFRESH_INTERVAL", "1")),
                          bootstrap=json.loads(Path(bootstrap_file).read_text()) if bootstrap_file else None)

    source, flags = plan_and_flags(reader_for)
    reader = flags.reader

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        reader.start()
        if source is not None:
            source.start()
        try:
            yield
        finally:
            if source is not None:
                source.stop()
            reader.stop()

    app = FastAPI(title="Intranet (example platform)", lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        user = current_user(request)
        if user is None:
            return page("Sign in", """<form method="post" action="/signin" class="card">
<label>User id <input name="user" required></label> <label>Department <input name="department"></label>
<label>Location <input name="location"></label> <button>Sign in</button></form>""")
        mine = flags.features_for(user)
        items = "".join(f'<li><a href="/features/{k}">{escape(flags.name(k))}</a></li>' for k in mine)
        return page(f"Hello {user.id}", (f"<ul>{items}</ul>" if items else
                                         "<p class='muted'>No platform features for you yet. Join the pilot in the planner.</p>")
                    + '<form method="post" action="/signout"><button>Sign out</button></form>')

    @app.post("/signin")
    def signin(user: Annotated[str, Form()], department: Annotated[str, Form()] = "",
               location: Annotated[str, Form()] = ""):
        attributes = {k: v for k, v in (("department", department), ("location", location)) if v}
        response = RedirectResponse("/", status_code=303)
        response.set_cookie("intranet_user", json.dumps({"id": user.strip(), "attributes": attributes}),
                            httponly=True, samesite="lax")
        return response

    @app.post("/signout")
    def signout():
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie("intranet_user")
        return response

    @app.get("/features/{key}", response_class=HTMLResponse)
    def feature(key: str, user: PlatformUser = Depends(signed_in)):
        """A feature's page: there for a user with the feature; a 404 for anyone else, and for a key the plan
        does not have (now: a feature added in the planner is here as soon as the plan's next poll)."""
        try:
            allowed = flags.enabled(key, user)
        except UnknownFeature:
            return page("Not found", "<p>There is no such page.</p>", status=404)
        if not allowed:
            return page("Not found", f"<p>{escape(flags.name(key))} is not available to you yet.</p>", status=404)
        return page(flags.name(key), f"<div class='card'>{CONTENT.get(key, 'Welcome.')}</div>")

    @app.get("/health")
    def health():
        state = reader.health()
        body = {"status": "ok" if not state.stale else "stale", "flags": state.as_dict()}
        if source is not None:
            body["plan"] = {**source.health().as_dict(), "version": flags.view.version}
        return body

    return app
