"""Every route of the app, with every role: who may reach it, and that each state-changing browser route
needs the CSRF token. The table is checked against the app's own route list: a new route without a row
fails here until someone decides who may use it."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from planner.db import session_scope
from planner.tokens import create_token, revoke_token
from tests.web.conftest import sign_in

# who may use a route: anyone; a signed-in person (not a platform token); a person or the platform (the
# JSON pilot API, where the platform acts for a user); a project lead; the platform alone
WHO = {
    ("GET", "/docs"): "anyone", ("GET", "/health"): "anyone", ("GET", "/login"): "anyone",
    # probes and the Prometheus scrape: counts only, no user id or token (README, "Health, readiness, metrics")
    ("GET", "/healthz"): "anyone", ("GET", "/readyz"): "anyone", ("GET", "/metrics"): "anyone",
    ("POST", "/login"): "anyone", ("POST", "/logout"): "anyone", ("GET", "/"): "anyone",
    ("GET", "/pilot"): "person", ("POST", "/pilot/{plan}/{cohort}/join"): "person",
    ("POST", "/pilot/{plan}/{cohort}/leave"): "person", ("POST", "/pilot/{plan}/accept"): "person",
    ("GET", "/me/features"): "person",
    ("GET", "/api/pilot/offers"): "someone", ("POST", "/api/pilot/{plan}/{cohort}/join"): "someone",
    ("POST", "/api/pilot/{plan}/{cohort}/leave"): "someone", ("GET", "/api/pilot/features"): "someone",
    ("GET", "/api/platform/whoami"): "platform", ("GET", "/api/platform/plans/{key}"): "platform",
    ("POST", "/api/plans/{key}/events"): "platform",
}
LEAD_ROUTES = [
    ("GET", "/api/plans"), ("GET", "/api/plans/{key}"), ("GET", "/api/plans/{key}/preview"),
    ("GET", "/api/plans/{key}/syncs"), ("POST", "/api/plans/{key}/syncs"), ("GET", "/api/plans/{key}/syncs/{job_id}"),
    ("GET", "/api/plans/{key}/bootstrap"), ("GET", "/plans"), ("POST", "/plans"), ("POST", "/plans/import"),
    ("GET", "/plans/{key}/export.yaml"), ("POST", "/plans/{key}/archive"), ("GET", "/plans/{key}/preview"),
    ("GET", "/plans/{key}/sync"), ("POST", "/plans/{key}/sync"), ("GET", "/plans/{key}/sync/jobs/{job_id}"),
    ("GET", "/plans/{key}/cohorts/{cohort}/members"), ("POST", "/plans/{key}/cohorts/{cohort}/members/remove"),
    ("GET", "/plans/{key}/cohorts/{cohort}/members.csv"), ("GET", "/audit"), ("GET", "/tokens"), ("POST", "/tokens"),
    ("POST", "/tokens/{name}/revoke"), ("GET", "/plans/{key}"), ("POST", "/plans/{key}/sheet"),
    ("GET", "/plans/{key}/sheet/edit"), ("GET", "/plans/{key}/{kind}"), ("GET", "/plans/{key}/{kind}/new"),
    ("GET", "/plans/{key}/{kind}/{item}/edit"), ("POST", "/plans/{key}/{kind}"), ("POST", "/plans/{key}/{kind}/{item}"),
    ("POST", "/plans/{key}/{kind}/{item}/delete"), ("POST", "/plans/{key}/matrix/{phase}/{field}/{item}"),
    ("GET", "/api/plans/{key}/phases"), ("POST", "/api/plans/{key}/phases/{phase}/{action}"),
    ("POST", "/plans/{key}/phases/{phase}/actions/{action}"), ("GET", "/plans/{key}/webhooks"),
    ("POST", "/plans/{key}/webhooks"), ("POST", "/plans/{key}/webhooks/{webhook_id}/remove"),
    ("GET", "/api/plans/{key}/approvals"), ("POST", "/api/plans/{key}/approvals/{request_id}/{decision}"),
    ("POST", "/plans/{key}/approvals/{request_id}/{decision}"),
    ("GET", "/api/plans/{key}/kpis"), ("POST", "/api/plans/{key}/kpis/{kpi}/values"),
    ("POST", "/api/plans/{key}/phases/{phase}/gate/override"), ("GET", "/plans/{key}/dashboard"),
    ("POST", "/plans/{key}/kpis/{kpi}/values"), ("POST", "/plans/{key}/phases/{phase}/gate/override"),
    ("GET", "/plans/{key}/report"),
]
WHO.update({route: "lead" for route in LEAD_ROUTES})
VALUES = {"key": "intranet-rollout", "plan": "intranet-rollout", "cohort": "pilot", "kind": "features",
          "item": "wiki", "phase": "pilot", "field": "cohorts", "job_id": "1", "name": "nobody",
          "action": "hold", "webhook_id": "1", "request_id": "1", "decision": "reject", "kpi": "satisfaction"}
ROLES = ("anonymous", "pilot user", "lead", "platform token", "revoked token")


def app_routes(app) -> set[tuple[str, str]]:
    found = set()

    def walk(routes) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.update((method, route.path) for method in route.methods)
            elif hasattr(route, "original_router"):  # an included router
                walk(route.original_router.routes)

    walk(app.routes)
    return found



def test_every_route_has_a_row_and_every_row_a_route(quiet_app):
    assert app_routes(quiet_app) == set(WHO)


def clients(app, database_url) -> dict[str, tuple[TestClient, dict[str, str]]]:
    with session_scope(database_url) as session:
        token = create_token(session=session, name="platform-a", actor="test")[1]
        revoked = create_token(session=session, name="platform-b", actor="test")[1]
        revoke_token(session=session, name="platform-b", actor="test")
    pilot, lead = sign_in(app, "u-7", "member"), sign_in(app, "lead-1", "lead")
    return {"anonymous": (TestClient(app, follow_redirects=False), {}),
            "pilot user": (pilot.client, {"X-CSRF-Token": pilot.csrf}),
            "lead": (lead.client, {"X-CSRF-Token": lead.csrf}),
            "platform token": (TestClient(app, follow_redirects=False), {"Authorization": f"Bearer {token}"}),
            "revoked token": (TestClient(app, follow_redirects=False), {"Authorization": f"Bearer {revoked}"})}


def allowed(who: str, role: str) -> bool:
    return {"anyone": True, "person": role in ("pilot user", "lead"), "lead": role == "lead",
            "someone": role in ("pilot user", "lead", "platform token"), "platform": role == "platform token"}[who]


def test_each_role_reaches_exactly_the_routes_it_may(quiet_app, database_url):
    by_role = clients(quiet_app, database_url)
    checked = 0
    for (method, template), who in sorted(WHO.items()):
        if who == "anyone":
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], template)
        for role in ROLES:
            client, headers = by_role[role]
            status = client.request(method, path, headers=headers).status_code
            where = f"{role}: {method} {path} -> {status}"
            if role == "revoked token":
                assert status == 401, where
            elif role == "anonymous":  # the API says 401, a page sends to the sign-in; a post without a
                # session has no CSRF token either, and that check comes first
                assert status in (401, 303) or (method == "POST" and status == 403), where
            elif allowed(who, role):
                assert status not in (401, 403), where
            else:
                assert status == 403, where
            checked += 1
    assert checked == len([w for w in WHO.values() if w != "anyone"]) * len(ROLES)


def test_every_state_changing_browser_route_needs_the_csrf_token(quiet_app):
    lead = sign_in(quiet_app, "lead-1", "lead")
    posts = sorted(template for method, template in WHO if method == "POST")
    assert len(posts) > 15
    for template in posts:
        path = re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], template)
        response = lead.client.post(path, data={"user": "u-1"})
        assert response.status_code == 403 and "CSRF" in response.text, f"{path} -> {response.status_code}"
