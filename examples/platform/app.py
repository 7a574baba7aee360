"""A tiny intranet — the collaboration platform — whose pages are behind the planner's flags.

Run: `make run` starts it on http://127.0.0.1:8001 beside the planner, or by hand:
    UNLEASH_URL=... UNLEASH_CLIENT_TOKEN=... uvicorn examples.platform.app:create_app --factory --port 8001
Settings: PLATFORM_PLAN_FILE (the plan file the planner applied; default the demo plan),
PLATFORM_BOOTSTRAP (a file from `planner bootstrap PLAN`, used until Unleash answers),
PLATFORM_REFRESH_INTERVAL (seconds between polls of Unleash; default 1).
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

from flags.fastapi_guard import requires
from flags.platform import PlatformFlags, PlatformUser
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


def create_app() -> FastAPI:
    plan = load_plan(Path(os.environ.get("PLATFORM_PLAN_FILE", ROOT / "examples" / "intranet-rollout.yaml")).read_text())
    bootstrap_file = os.environ.get("PLATFORM_BOOTSTRAP")
    reader = FlagReader(url=os.environ.get("UNLEASH_URL", "http://127.0.0.1:4242/api"),
                        client_token=os.environ.get("UNLEASH_CLIENT_TOKEN", ""), app_name="intranet-example",
                        environment=plan.unleash.environment,
                        refresh_interval=int(os.environ.get("PLATFORM_REFRESH_INTERVAL", "1")),
                        bootstrap=json.loads(Path(bootstrap_file).read_text()) if bootstrap_file else None)
    # explicit defaults: what a page does when Unleash has never answered
    flags = PlatformFlags(reader, plan, defaults={f.key: False for f in plan.features})

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        reader.start()
        try:
            yield
        finally:
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
        items = "".join(f'<li><a href="/features/{k}">{escape(plan.feature(k).name or k)}</a></li>' for k in mine)
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

    def feature_page(key: str):
        def show(_user: PlatformUser = Depends(requires(flags, key, signed_in))):
            return page(plan.feature(key).name or key, f"<div class='card'>{CONTENT.get(key, 'Welcome.')}</div>")

        return show

    for feature in plan.features:
        app.add_api_route(f"/features/{feature.key}", feature_page(feature.key), response_class=HTMLResponse,
                          name=f"feature-{feature.key}")

    @app.get("/health")
    def health():
        state = reader.health()
        return {"status": "ok" if not state.stale else "stale", "flags": state.as_dict()}

    return app
