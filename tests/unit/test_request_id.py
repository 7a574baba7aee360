"""The request id: which ids from outside are taken as they came, that every Unleash Admin API call made for a
request carries it (also from the client's reading threads), and that log lines carry it, as JSON when asked."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from flags.admin import UnleashAdmin
from planner import request_id
from services import logs

TOKEN = "*:*.0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("given", ["7f6c1e0a9b8d4c3e2f1a0b9c8d7e6f5a", "3b241101-e2bb-4255-8caf-4136c566a962",
                                   "Root=1-67891233-abcdef012345678912345678", "lb.req:42"])
def test_an_id_from_a_proxy_is_kept_as_it_came(given):
    assert request_id.sane(given) == given


@pytest.mark.parametrize("given", [None, "", "two words", "x" * 129, "id\r\nSet-Cookie: a=b", "naïve", '"quoted"',
                                   "-starts-with-a-dash"])
def test_an_odd_id_is_not_taken(given):
    assert request_id.sane(given) is None


def recording_admin(seen: list[httpx.Request]) -> UnleashAdmin:
    """An admin client over a transport that answers a project of one flag with one strategy."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/features"):
            return httpx.Response(200, json={"features": [{"name": "f", "environments": [
                {"name": "production", "enabled": True, "hasStrategies": True}]}]})
        if path.endswith("/strategies"):
            return httpx.Response(200, json=[{"id": "s1", "name": "default", "sortOrder": 0}])
        if path.endswith("/segments"):
            return httpx.Response(200, json={"segments": []})
        return httpx.Response(200, json={})

    return UnleashAdmin("http://unleash.test/api", TOKEN, transport=httpx.MockTransport(answer))


def test_every_admin_api_call_made_for_a_request_carries_its_id():
    seen: list[httpx.Request] = []
    with recording_admin(seen) as admin, request_id.bound("req-42"):
        admin.read_project_state("default", "production")  # its strategies are read by a pool of threads
        admin.create_segment({"name": "s"})
    assert [r.url.path for r in seen] == ["/api/admin/projects/default/features",
                                          "/api/admin/projects/default/features/f/environments/production/strategies",
                                          "/api/admin/segments", "/api/admin/segments"]
    assert {r.headers.get("X-Request-ID") for r in seen} == {"req-42"}


def test_a_call_made_for_no_request_sends_no_id():
    seen: list[httpx.Request] = []
    with recording_admin(seen) as admin:
        admin.list_segments()
    assert "X-Request-ID" not in seen[0].headers


def lines_of(log_format: str, emit) -> list[str]:
    """What the process's log configuration writes while `emit` runs (its stream swapped for a buffer)."""
    buffer, root = io.StringIO(), logging.getLogger()
    named = [logging.getLogger(name) for name in logs.config(log_format)["loggers"]]
    before = (root.level, list(root.handlers), [(n.level, list(n.handlers), n.propagate) for n in named])
    logs.configure(log_format)
    root.handlers[0].setStream(buffer)
    try:
        emit()
    finally:  # the test run's own logging as it was
        root.setLevel(before[0])
        root.handlers[:] = before[1]
        for logger, (level, handlers, propagate) in zip(named, before[2]):
            logger.setLevel(level)
            logger.handlers[:], logger.propagate = handlers, propagate
    return buffer.getvalue().splitlines()


def test_json_log_lines_are_one_object_each_with_the_request_id_and_the_fields_given():
    def emit():
        with request_id.bound("req-7"):
            logging.getLogger("web.requests").info("GET %s 200", "/plans/{key}", extra={"route": "/plans/{key}",
                                                                                         "status": 200})
        logging.getLogger("services.controller").warning("controller round: 1 failed\nsecond line")

    first, second = map(json.loads, lines_of("json", emit))
    assert first["message"] == "GET /plans/{key} 200" and first["request_id"] == "req-7"
    assert (first["level"], first["logger"], first["route"], first["status"]) == ("INFO", "web.requests",
                                                                                  "/plans/{key}", 200)
    assert first["time"].endswith("+00:00")
    assert second["request_id"] is None and second["message"] == "controller round: 1 failed\nsecond line"


def test_a_configured_secret_never_reaches_a_log_line():
    logs.redact(TOKEN, "session-secret-value-xyz")
    text = lines_of("text", lambda: logging.getLogger("flags.admin").warning(
        "refused %s and %s", TOKEN, "…" + TOKEN.rsplit(".", 1)[1]))
    assert text and TOKEN not in text[0] and TOKEN.rsplit(".", 1)[1] not in text[0]
    assert "refused *** and …***" in text[0]
