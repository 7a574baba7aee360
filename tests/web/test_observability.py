"""Liveness, readiness and metrics as an operator's probes and Prometheus see them, and the request id every
answer carries. (Readiness against the real Unleash: tests/integration/test_readiness_live.py; metrics summed
over the workers of a real `planner serve`: tests/integration/test_serve_observability.py.)"""

from __future__ import annotations

import re
import socket
import threading

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from flags.admin import UnleashAdmin
from planner import migrate
from planner.db import engine_for, session_scope
from planner.plans import apply_plan
from planner.store import live_plan
from planner.tables import PhaseControlRow
from services.readiness import UnleashCheck
from services.settings import Settings
from tests.plans import demo_plan
from tests.ports import free_port
from tests.web.conftest import sign_in
from web.app import create_app

TOKEN = "*:*.readiness-test-0123456789abcdef"
SECRET = "observability-secret-" + "s" * 20


def make_app(database_url: str, **settings):
    config = dict(dev_login=True, session_secret=SECRET, database_url=database_url, background=False,
                  unleash_client_token="", unleash_url=f"http://127.0.0.1:{free_port()}/api",  # nobody listens
                  unleash_admin_token=TOKEN)
    return create_app(settings=Settings(**{**config, **settings}))


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels in a scrape (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_liveness_is_a_tiny_answer_even_with_unleash_and_the_database_away(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    response = TestClient(app).get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_not_ready_while_unleash_is_unreachable_with_the_reason_and_no_token(database_url):
    response = TestClient(make_app(database_url)).get("/readyz")
    assert response.status_code == 503
    assert response.json()["ready"] is False
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["migrations"] == "ok"
    assert checks["unleash"].startswith("unreachable (no answer") and "UNLEASH_URL" in checks["unleash"]
    assert TOKEN not in response.text and TOKEN.rsplit(".", 1)[1] not in response.text


def test_not_ready_without_an_admin_token(database_url):
    response = TestClient(make_app(database_url, unleash_admin_token="")).get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["unleash"] == "not configured: UNLEASH_ADMIN_TOKEN is not set"


def test_not_ready_soon_when_the_database_takes_the_connection_and_never_answers():
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel completes the handshake; nobody ever speaks
    url = f"postgresql+psycopg://planner:secret-pw@127.0.0.1:{silent.getsockname()[1]}/planner"
    answers = []
    probe = threading.Thread(target=lambda: answers.append(TestClient(make_app(url)).get("/readyz")), daemon=True)
    try:
        probe.start()
        probe.join(timeout=30)  # without a connect timeout it waits as long as the server stays silent
        assert answers, "/readyz did not answer while the database was silent"
        assert answers[0].status_code == 503 and answers[0].json()["checks"]["database"].startswith("unreachable")
        assert "secret-pw" not in answers[0].text
    finally:
        silent.close()
        engine_for(url).dispose()


def test_not_ready_while_the_database_is_behind_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    head = migrate.head()
    previous = ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision(head).down_revision
    migrate.upgrade(url, previous)
    response = TestClient(make_app(url)).get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["migrations"] == f"at {previous}, the planner needs {head}: run `planner db upgrade`"


def test_a_storm_of_probes_asks_unleash_once(database_url):
    asked = []

    def unleash(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json={"resourceLimits": {}})

    app = make_app(database_url)
    app.state.unleash_check = UnleashCheck(UnleashAdmin("http://unleash.test/api", TOKEN,
                                                        transport=httpx.MockTransport(unleash)))
    client = TestClient(app)
    answers = {client.get("/readyz").status_code for _ in range(20)}
    assert answers == {200} and asked == ["/api/admin/ui-config"]


def test_every_answer_carries_a_request_id_the_callers_own_when_sane(database_url):
    client = TestClient(make_app(database_url))
    assert client.get("/healthz", headers={"X-Request-ID": "proxy-7f6c1e0a"}).headers["X-Request-ID"] == "proxy-7f6c1e0a"
    made_up = client.get("/nothing-here", headers={"X-Request-ID": "two words"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made_up)
    assert client.get("/healthz").headers["X-Request-ID"] != made_up


def test_metrics_count_requests_by_route_and_show_the_cohorts_without_user_ids_or_secrets(database_url):
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=demo_plan(), actor="seed")
        row, _plan = live_plan(session, "intranet-rollout")
        session.add(PhaseControlRow(plan_id=row.id, phase_key="wave-1", verdict="inconclusive"))
    app = make_app(database_url)
    scrape = TestClient(app)
    before = scrape.get("/metrics").text
    member, lead = sign_in(app, "u-7", "member"), sign_in(app, "lead-1", "lead")
    joined = member.post("/api/pilot/intranet-rollout/pilot/join", json={"accept_guidelines_version": 1}, data=None)
    assert joined.status_code == 200 and joined.json()["status"] == "member"
    for _ in range(2):
        assert lead.get("/plans/intranet-rollout").status_code == 200
    assert lead.get("/plans/nope").status_code == 404
    response = scrape.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text

    page = dict(method="GET", route="/plans/{key}", status="200")
    assert value(text, "planner_http_requests_total", **page) - value(before, "planner_http_requests_total", **page) == 2
    assert value(text, "planner_http_requests_total", method="GET", route="/plans/{key}", status="404") >= 1
    timed = dict(method="GET", route="/plans/{key}")
    assert value(text, "planner_http_request_duration_seconds_count", **timed) \
        - value(before, "planner_http_request_duration_seconds_count", **timed) == 3
    assert value(text, "planner_opt_ins_total", outcome="member") - value(before, "planner_opt_ins_total",
                                                                          outcome="member") == 1
    pilot = dict(plan="intranet-rollout", cohort="pilot")
    assert value(text, "planner_opt_in_members", **pilot) == 1
    assert value(text, "planner_opt_in_waitlist", **pilot) == 0
    assert value(text, "planner_membership_changes_pending", **pilot) >= 1  # nothing pushed: no Unleash here
    assert value(text, "planner_gate_verdict", plan="intranet-rollout", phase="wave-1", verdict="inconclusive") == 1
    assert value(text, "planner_database_up") == 1
    assert "u-7" not in text and "lead-1" not in text and "/plans/nope" not in text
    assert TOKEN.rsplit(".", 1)[1] not in text and SECRET not in text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_probes_need_no_sign_in(database_url, path):
    assert TestClient(make_app(database_url), follow_redirects=False).get(path).status_code in (200, 503)
