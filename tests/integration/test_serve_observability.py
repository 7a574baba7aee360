"""A real `planner serve --workers 2` with PLANNER_LOG_FORMAT=json: joins spread over both workers make one
consistent sum in /metrics and /health, whichever worker answers, equal to the members stored; every log line
is a JSON object, the request's line carries its request id, and no token or secret is in the log."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import func, select

from planner import migrate
from planner.db import session_scope
from planner.plans import apply_plan
from planner.tables import MembershipRow
from planner.tokens import create_token
from tests.plans import demo_plan
from tests.serving import planner_serve

ADMIN_TOKEN = "*:*.observability-admin-" + uuid.uuid4().hex
CLIENT_TOKEN = "default:development.observability-client-" + uuid.uuid4().hex
SESSION_SECRET = "observability-session-" + uuid.uuid4().hex
JOIN = "/api/pilot/intranet-rollout/pilot/join"


def joins_per_worker(folder: Path) -> dict[str, float]:
    """Each worker's own count of joins, from its file in the multiprocess folder."""
    counted = {}
    for path in folder.glob("planner-metrics-*/counter_*.db"):
        samples = [s for m in MultiProcessCollector.merge([str(path)]) for s in m.samples
                   if s.name == "planner_opt_ins_total"]
        counted[path.name] = sum(s.value for s in samples)
    return counted


def scraped(base: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text  # a new connection: either worker answers
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_two_workers_count_one_sum_and_log_json_lines_with_the_request_id(tmp_path, env):
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    migrate.upgrade(url)
    with session_scope(url) as session:
        apply_plan(session=session, plan=demo_plan(), actor="seed")
        platform = create_token(session=session, name="platform", actor="test")[1]
    metrics_dir, log = tmp_path / "metrics", tmp_path / "planner.log"
    metrics_dir.mkdir()
    # the real Unleash, with tokens it refuses: they go out (and must not come back in a log line), and nothing
    # is written there
    served = {"PLANNER_DATABASE_URL": url, "PLANNER_LOG_FORMAT": "json", "PLANNER_METRICS_DIR": str(metrics_dir),
              "PLANNER_SESSION_SECRET": SESSION_SECRET, "UNLEASH_URL": env["UNLEASH_URL"],
              "UNLEASH_ADMIN_TOKEN": ADMIN_TOKEN, "UNLEASH_CLIENT_TOKEN": CLIENT_TOKEN}
    traced = "obs-" + uuid.uuid4().hex
    with planner_serve(served, workers=2, log=log) as (_server, base):
        joined = 0
        while joined < 20 or len([n for n in joins_per_worker(metrics_dir).values() if n]) < 2:
            assert joined < 120, f"the joins did not reach both workers: {joins_per_worker(metrics_dir)}"
            answer = httpx.post(f"{base}{JOIN}", json={"accept_guidelines_version": 1, "user": f"w-{joined:03d}"},
                                headers={"Authorization": f"Bearer {platform}", "X-Request-ID": f"{traced}-{joined}"},
                                timeout=10)  # a new connection each: the kernel hands it to either worker
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-Request-ID"] == f"{traced}-{joined}"
            joined += 1
        per_worker = joins_per_worker(metrics_dir)
        assert sum(per_worker.values()) == joined and all(per_worker.values())
        with session_scope(url) as session:
            members = session.exec(select(func.count()).select_from(MembershipRow)
                                   .where(MembershipRow.status == "member")).one()
            waiting = session.exec(select(func.count()).select_from(MembershipRow)
                                   .where(MembershipRow.status == "waiting")).one()
        assert members + waiting == joined
        pilot = (("cohort", "pilot"), ("plan", "intranet-rollout"))
        for _ in range(6):  # the same sums whichever worker answers
            metrics = scraped(base)
            assert metrics[("planner_opt_ins_total", (("outcome", "member"),))] == members
            assert metrics.get(("planner_opt_ins_total", (("outcome", "waiting"),)), 0) == waiting
            assert metrics[("planner_opt_in_members", pilot)] == members
            assert metrics[("planner_opt_in_waitlist", pilot)] == waiting
            route = (("method", "POST"), ("route", "/api/pilot/{plan}/{cohort}/join"), ("status", "200"))
            assert metrics[("planner_http_requests_total", route)] == joined
        answered_by = {}
        for _ in range(40):
            health = httpx.get(f"{base}/health", timeout=10).json()
            answered_by[health["process"]] = health
            if len(answered_by) == 2:
                break
        assert len(answered_by) == 2, "one worker answered every /health"
        assert [h["opt_in_writes"]["joins"] for h in answered_by.values()] == [joined, joined]
        assert {h["counters_of"] for h in answered_by.values()} == {"all workers"}
        refused = httpx.get(f"{base}/readyz", timeout=30)  # the admin token goes out, and is refused
        assert refused.status_code == 503 and "refused (401)" in refused.json()["checks"]["unleash"]
    assert not list(metrics_dir.iterdir()), "planner serve left its metric files behind"

    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    requests = [line for line in lines if line["logger"] == "web.requests"]
    first = next(line for line in requests if line["request_id"] == f"{traced}-0")
    assert (first["method"], first["route"], first["status"]) == ("POST", "/api/pilot/{plan}/{cohort}/join", 200)
    assert first["duration_ms"] > 0 and first["message"].startswith("POST /api/pilot/{plan}/{cohort}/join 200")
    assert len({line["request_id"] for line in requests}) == len(requests)  # one line per request
    for secret in (ADMIN_TOKEN, ADMIN_TOKEN.rsplit(".", 1)[1], CLIENT_TOKEN, CLIENT_TOKEN.rsplit(".", 1)[1],
                   SESSION_SECRET, platform):
        assert secret not in text
