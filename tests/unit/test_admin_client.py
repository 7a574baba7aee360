"""Faults the admin client must turn into the right error: injected with httpx.MockTransport."""

from __future__ import annotations

import logging

import httpx
import pytest

from flags.admin import ResourceLimits, UnleashAdmin
from flags.errors import (
    UnleashAuthError,
    UnleashConflict,
    UnleashError,
    UnleashNotFound,
    UnleashRefused,
    UnleashUnavailable,
)

TOKEN = "*:*.s3cr3t-admin-token-0123456789abcdef"
SECRET = TOKEN.rsplit(".", 1)[-1]
URL = "http://127.0.0.1:4242/api"


class Server:
    """A scripted answer per request; records what reached it."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def admin(server: Server, **kwargs) -> UnleashAdmin:
    kwargs.setdefault("backoff", 0)
    return UnleashAdmin(URL, TOKEN, transport=httpx.MockTransport(server), **kwargs)


def error_body(name: str, message: str, status: int) -> httpx.Response:
    return httpx.Response(status, json={"id": "e1", "name": name, "message": message})


def assert_no_token(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), *map(str, exc.args)):
        assert TOKEN not in text
        assert SECRET not in text


REFUSED = httpx.ConnectError("[Errno 111] Connection refused")


# -- unavailable and retries ---------------------------------------------------------------


def test_connection_refused_is_unavailable_after_retries():
    server = Server(REFUSED)
    with admin(server, retries=2) as client, pytest.raises(UnleashUnavailable) as caught:
        client.list_segments()
    assert len(server.seen) == 3
    assert caught.value.status is None
    assert caught.value.method == "GET"
    assert caught.value.path == "/api/admin/segments"
    assert "127.0.0.1:4242" in str(caught.value)
    assert_no_token(caught.value)


def test_get_recovers_from_a_dropped_connection():
    server = Server(httpx.RemoteProtocolError("reset"), httpx.Response(200, json={"segments": []}))
    with admin(server) as client:
        assert client.list_segments() == []


def test_5xx_is_retried_then_succeeds():
    server = Server(
        httpx.Response(503, text="busy"),
        httpx.Response(502, text="gateway"),
        httpx.Response(200, json={"segments": [{"id": 1, "name": "pilot"}]}),
    )
    with admin(server, retries=2) as client:
        assert client.list_segments() == [{"id": 1, "name": "pilot"}]


def test_5xx_that_persists_is_unavailable_with_status():
    server = Server(error_body("InternalError", "database is down", 500))
    with admin(server, retries=1) as client, pytest.raises(UnleashUnavailable) as caught:
        client.get_feature("default", "wiki")
    assert caught.value.status == 500
    assert "database is down" in str(caught.value)
    assert len(server.seen) == 2


def test_timeout_is_unavailable():
    server = Server(httpx.ReadTimeout("timed out"))
    with admin(server, retries=0) as client, pytest.raises(UnleashUnavailable) as caught:
        client.list_features("default")
    assert "timed out" in str(caught.value)


@pytest.mark.parametrize(
    "fault", [httpx.Response(503, text="busy"), httpx.ReadTimeout("timed out"), REFUSED]
)
def test_post_is_never_retried(fault):
    server = Server(fault, httpx.Response(201, json={"id": 7, "name": "pilot"}))
    with admin(server, retries=5) as client, pytest.raises(UnleashUnavailable):
        client.create_segment({"name": "pilot", "constraints": []})
    assert len(server.seen) == 1


def test_post_timeout_says_the_change_may_have_been_applied():
    server = Server(httpx.ReadTimeout("timed out"))
    with admin(server) as client, pytest.raises(UnleashUnavailable) as caught:
        client.set_environment_enabled("default", "wiki", "production", True)
    assert "may or may not have been applied" in str(caught.value)


def test_put_and_delete_are_retried():
    server = Server(
        httpx.Response(503), httpx.Response(200, json={"id": "s1"}),
        httpx.Response(503), httpx.Response(200),
    )
    with admin(server) as client:
        assert client.update_strategy("default", "wiki", "production", "s1", {"name": "default"}) == {"id": "s1"}
        client.delete_segment(3)
    assert [r.method for r in server.seen] == ["PUT", "PUT", "DELETE", "DELETE"]


def test_delete_whose_answer_was_lost_is_done_when_the_retry_finds_nothing():
    server = Server(httpx.ReadTimeout("timed out"), error_body("NotFoundError", "Could not find strategy", 404))
    with admin(server) as client:
        client.delete_strategy("default", "wiki", "production", "s1")
    assert len(server.seen) == 2


def test_delete_of_something_missing_is_not_found():
    server = Server(error_body("NotFoundError", "No segment exists with ID \"9\"", 404))
    with admin(server) as client, pytest.raises(UnleashNotFound):
        client.delete_segment(9)


def test_health_is_false_when_down_and_true_when_up():
    with admin(Server(REFUSED), retries=0) as client:
        assert client.health() is False
    with admin(Server(httpx.Response(200, json={"health": "GOOD"}))) as client:
        assert client.health() is True


# -- answers the server refuses ------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_say_what_to_check_without_the_token(status, caplog):
    caplog.set_level(logging.DEBUG)
    # A server that echoes the token back must not get it into our message either.
    server = Server(error_body("AuthenticationRequired", f"bad token {TOKEN}", status))
    with admin(server) as client, pytest.raises(UnleashAuthError) as caught:
        client.list_features("default")
    error = caught.value
    assert error.status == status
    assert error.method == "GET" and error.path == "/api/admin/projects/default/features"
    assert "admin" in str(error) and "/api" in str(error)
    assert_no_token(error)
    assert TOKEN not in caplog.text and SECRET not in caplog.text
    assert len(server.seen) == 1  # not retried
    assert server.seen[0].headers["Authorization"] == TOKEN


def test_token_is_not_in_client_repr_or_logs_of_failures(caplog):
    caplog.set_level(logging.DEBUG)
    with admin(Server(REFUSED), retries=1) as client:
        assert TOKEN not in repr(client) and SECRET not in repr(client)
        with pytest.raises(UnleashUnavailable) as caught:
            client.list_segments()
    assert_no_token(caught.value)
    assert SECRET not in caplog.text


def test_segment_in_use_is_a_conflict_that_says_so():
    # Unleash 8.2 answers a DELETE of a segment in use with 409 and an empty body.
    server = Server(httpx.Response(409))
    with admin(server) as client, pytest.raises(UnleashConflict) as caught:
        client.delete_segment(12)
    assert caught.value.status == 409
    assert (caught.value.method, caught.value.path) == ("DELETE", "/api/admin/segments/12")
    assert "still used by a strategy" in str(caught.value)
    assert len(server.seen) == 1


def test_name_taken_is_a_conflict_with_the_server_message():
    server = Server(error_body("NameExistsError", "A flag with that name already exists", 409))
    with admin(server) as client, pytest.raises(UnleashConflict) as caught:
        client.create_feature("default", name="wiki", description="Wiki")
    assert "A flag with that name already exists" in str(caught.value)


def test_rate_limited_is_unavailable_and_not_retried():
    server = Server(
        httpx.Response(429, text="Too many requests, please try again later.", headers={"Retry-After": "42"})
    )
    with admin(server, retries=3) as client, pytest.raises(UnleashUnavailable) as caught:
        client.list_archived_features("default")
    assert caught.value.status == 429
    assert "42 s" in str(caught.value) and "Too many requests" in str(caught.value)
    assert len(server.seen) == 1


def test_exceeds_limit_is_refused_with_the_server_message():
    message = "Failed to create strategy. You can't create more than the established limit of 30."
    server = Server(error_body("ExceedsLimitError", message, 400))
    with admin(server) as client, pytest.raises(UnleashRefused) as caught:
        client.add_strategy("default", "wiki", "production", {"name": "default"})
    error = caught.value
    assert (error.method, error.status, error.error_name) == ("POST", 400, "ExceedsLimitError")
    assert error.path == "/api/admin/projects/default/features/wiki/environments/production/strategies"
    assert message in str(error) and "ExceedsLimitError" in str(error)
    assert "POST /api/admin/projects/default/features/wiki" in str(error)


def test_validation_details_are_part_of_the_message():
    server = Server(
        httpx.Response(
            400,
            json={
                "name": "BadDataError",
                "message": "Request validation failed: your request body or params contain "
                "invalid data. Refer to the `details` list for more information.",
                "details": [{"message": "The `/name` property must match pattern"}],
            },
        )
    )
    with admin(server) as client, pytest.raises(UnleashRefused) as caught:
        client.create_feature("default", name="bad name", description="")
    assert "`/name` property" in str(caught.value)


def test_body_too_large_is_refused():
    server = Server(httpx.Response(413, text="request entity too large"))
    with admin(server) as client, pytest.raises(UnleashRefused) as caught:
        client.update_segment(4, {"name": "big", "constraints": []})
    assert caught.value.status == 413
    assert "too large" in str(caught.value)


def test_missing_flag_is_not_found():
    server = Server(error_body("NotFoundError", "Could not find feature flag with name ghost", 404))
    with admin(server) as client, pytest.raises(UnleashNotFound) as caught:
        client.get_feature("default", "ghost")
    assert caught.value.status == 404
    assert "ghost" in str(caught.value)
    assert isinstance(caught.value, UnleashError)


# -- limits, URL, writes -------------------------------------------------------------------


def test_resource_limits_are_read_from_ui_config():
    limits = {
        "constraintValues": 500, "segmentValues": 2000, "strategySegments": 8, "constraints": 40,
        "featureEnvironmentStrategies": 35, "segments": 400, "featureFlags": 6000, "projects": 1,
    }
    server = Server(httpx.Response(200, json={"version": "8.2.0", "resourceLimits": limits}))
    with admin(server) as client:
        assert client.resource_limits() == ResourceLimits(
            constraint_values=500, segment_values=2000, strategy_segments=8, constraints=40,
            feature_environment_strategies=35, segments=400, feature_flags=6000,
        )
    assert server.seen[0].url.path == "/api/admin/ui-config"


@pytest.mark.parametrize(
    "ui_config",
    [{}, {"resourceLimits": None}, {"resourceLimits": {"constraintValues": "many", "segments": -1}}],
)
def test_resource_limits_fall_back_to_unleash_defaults(ui_config):
    with admin(Server(httpx.Response(200, json=ui_config))) as client:
        limits = client.resource_limits()
    assert (
        limits.constraint_values, limits.segment_values, limits.strategy_segments,
        limits.constraints, limits.feature_environment_strategies, limits.segments,
        limits.feature_flags,
    ) == (250, 1000, 5, 30, 30, 300, 5000)


def test_partial_resource_limits_keep_defaults_for_the_rest():
    server = Server(httpx.Response(200, json={"resourceLimits": {"constraintValues": 1000}}))
    with admin(server) as client:
        limits = client.resource_limits()
    assert limits.constraint_values == 1000 and limits.segment_values == 1000


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:4242/api",
        "http://127.0.0.1:4242/api/",
        "http://127.0.0.1:4242",
        "http://127.0.0.1:4242/api/admin",
    ],
)
def test_api_url_with_or_without_api_reaches_the_same_paths(base_url):
    server = Server(httpx.Response(200, json={"segments": []}))
    with UnleashAdmin(base_url, TOKEN, transport=httpx.MockTransport(server)) as client:
        client.list_segments()
    assert str(server.seen[0].url) == "http://127.0.0.1:4242/api/admin/segments"


def test_writes_counts_every_write_sent_and_no_read():
    server = Server(
        httpx.Response(200, json={"segments": []}),  # GET: not a write
        httpx.Response(201, json={"id": 1}),  # POST
        httpx.Response(503),  # PUT, sent and failed: a write attempt
        httpx.Response(200),  # PUT retried
        httpx.Response(200),  # PATCH
        httpx.Response(200),  # DELETE
        REFUSED,  # POST that never left: not counted
    )
    with admin(server) as client:
        client.list_segments()
        client.create_segment({"name": "a", "constraints": []})
        client.update_segment(1, {"name": "a", "constraints": []})
        client.update_feature("default", "wiki", description="Wiki")
        client.delete_segment(1)
        with pytest.raises(UnleashUnavailable):
            client.set_environment_enabled("default", "wiki", "production", False)
        assert client.writes == 5


def test_flag_names_are_quoted_into_paths():
    server = Server(httpx.Response(200, json={"name": "a/b"}))
    with admin(server) as client:
        client.get_feature("default", "a/b")
    assert server.seen[0].url.raw_path == b"/api/admin/projects/default/features/a%2Fb"
