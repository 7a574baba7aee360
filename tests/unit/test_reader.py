"""The flag reader without a server: health from timestamps, failure wording, bootstrap and defaults."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import requests

from flags.reader import (
    FetchState,
    FlagReader,
    ReaderHealth,
    describe_failure,
    health_of,
    stale_after,
)
from tests.ports import free_port
from tests.readers import started_readers

TOKEN = "default:development.s3cr3t-client-token-0123456789abcdef"
SECRET = TOKEN.rsplit(".", 1)[-1]

# Pilot users (a segment) see the blog; the wiki is on for everyone; the old forum is off.
BOOTSTRAP = {
    "version": 1,
    "segments": [{"id": 7, "constraints": [
        {"contextName": "userId", "operator": "IN", "values": ["u-pilot-1", "u-pilot-2"]}]}],
    "features": [
        {"name": "innovation-blog", "enabled": True, "strategies": [
            {"name": "flexibleRollout", "segments": [7],
             "parameters": {"rollout": "100", "stickiness": "default", "groupId": "plan-pilot"}}]},
        {"name": "wiki", "enabled": True, "strategies": [{"name": "default"}]},
        {"name": "old-forum", "enabled": False, "strategies": [{"name": "default"}]},
    ],
}


@pytest.fixture
def offline_url():
    return f"http://127.0.0.1:{free_port()}/api"


@pytest.fixture
def start(offline_url, request):
    """Start a reader against a closed port; stopped after the test."""
    with started_readers(url=offline_url, client_token=TOKEN, app_name=f"unit-{request.node.name}",
                         refresh_interval=1) as start_reader:
        yield start_reader


# -- health from timestamps ---------------------------------------------------------------


def test_staleness_threshold_is_three_polls_but_never_under_ten_seconds():
    assert stale_after(1) == 10
    assert stale_after(3) == 10
    assert stale_after(5) == 15
    assert stale_after(15) == 45


def test_never_fetched_is_stale_whatever_the_source():
    for source in ("none", "bootstrap", "cache"):
        health = health_of(FetchState(source=source), refresh_interval=15, now=1_000.0)
        assert health.stale and not health.ever_fetched and health.last_success is None
        assert health.source == source


def test_fresh_until_the_threshold_then_stale():
    at = datetime(2027, 1, 11, 7, 0, tzinfo=UTC)
    state = FetchState(ever_fetched=True, last_success=at, last_success_clock=100.0, source="unleash")
    assert not health_of(state, refresh_interval=15, now=100.0).stale
    assert not health_of(state, refresh_interval=15, now=145.0).stale
    assert health_of(state, refresh_interval=15, now=145.1).stale
    assert not health_of(state, refresh_interval=1, now=110.0).stale
    assert health_of(state, refresh_interval=1, now=110.5).stale
    assert health_of(state, refresh_interval=1, now=110.5).last_success == at


def test_health_as_dict_is_json_ready():
    at = datetime(2027, 1, 11, 7, 0, tzinfo=UTC)
    health = ReaderHealth(ever_fetched=True, last_success=at, last_error=None, stale=False, source="unleash")
    assert health.as_dict() == {"ever_fetched": True, "last_success": "2027-01-11T07:00:00+00:00",
                                "last_error": None, "stale": False, "source": "unleash"}
    assert ReaderHealth(False, None, "x", True, "none").as_dict()["last_success"] is None


# -- failures in plain words --------------------------------------------------------------


def test_wrong_token_says_which_token_is_needed():
    text = describe_failure(url="http://127.0.0.1:4242/api", environment="production", status=401)
    assert "401" in text and "client (backend) API token" in text and "'production'" in text


def test_403_without_api_blames_the_url_and_with_api_the_token_type():
    no_api = describe_failure(url="http://127.0.0.1:4242", environment="development", status=403)
    assert "ending in /api" in no_api and "http://127.0.0.1:4242/api" in no_api
    api = describe_failure(url="http://127.0.0.1:4242/api", environment="development", status=403,
                           server_message="invalid token: expected a different token type for this endpoint")
    assert "not an admin or frontend token" in api and "expected a different token type" in api


def test_an_html_page_instead_of_the_feature_list_is_named():
    text = describe_failure(url="http://proxy.local/", environment="development", status=200,
                            content_type="text/html; charset=utf-8")
    assert "text/html" in text and "not Unleash's feature list" in text and "/api" in text


def test_transport_failures():
    refused = requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /api/client/features "
        "(Caused by NewConnectionError(\"...: Failed to establish a new connection: [Errno 111] Connection refused\"))")
    text = describe_failure(url="http://127.0.0.1:1/api", environment="development", error=refused)
    assert text.startswith("could not connect to Unleash at http://127.0.0.1:1/api/client/features: Connection refused")
    timeout = requests.exceptions.ReadTimeout("read timed out")
    assert "did not answer within 10 s" in describe_failure(
        url="http://127.0.0.1:1/api", environment="development", error=timeout, timeout=10)
    five_xx = requests.exceptions.RetryError("too many 500 error responses")
    assert "server errors (5xx)" in describe_failure(url="http://h/api", environment="d", error=five_xx)
    assert "no HTTP answer" in describe_failure(url="http://h/api", environment="d")


# -- a reader with no server --------------------------------------------------------------


def test_bootstrap_answers_until_unleash_does(start):
    reader = start(bootstrap=BOOTSTRAP)
    assert reader.enabled("innovation-blog", {"userId": "u-pilot-1"})
    assert not reader.enabled("innovation-blog", {"userId": "u-someone-else"})
    assert reader.enabled("wiki", {"userId": "u-someone-else"})
    assert not reader.enabled("old-forum", {"userId": "u-pilot-1"})
    assert reader.enabled_features({"userId": "u-pilot-1"}) == ["innovation-blog", "wiki"]
    assert reader.enabled_features({"userId": "u-x"}, ["old-forum", "wiki"]) == ["wiki"]
    health = reader.health()
    assert health.source == "bootstrap"
    assert health.stale and not health.ever_fetched and health.last_success is None
    assert "Connection refused" in health.last_error and reader.url + "/client/features" in health.last_error


def test_unknown_flags_answer_their_default(start):
    reader = start(bootstrap=BOOTSTRAP, defaults={"kill-switch": True})
    assert reader.enabled("kill-switch", {"userId": "u-1"}) is True
    assert reader.enabled("never-heard-of", {"userId": "u-1"}) is False
    assert reader.enabled("never-heard-of", {"userId": "u-1"}, default=True) is True
    assert reader.enabled("kill-switch", {"userId": "u-1"}, default=False) is False
    # a flag Unleash (here: the bootstrap) knows answers what Unleash says, not the default
    assert reader.enabled("old-forum", {"userId": "u-1"}, default=True) is False
    assert "kill-switch" in reader.enabled_features({"userId": "u-1"})


def test_without_bootstrap_or_server_every_flag_answers_its_default(start):
    reader = start(defaults={"wiki": True})
    assert reader.health().source == "none"
    assert reader.enabled("wiki", {"userId": "u-1"}) is True
    assert reader.enabled("innovation-blog", {"userId": "u-1"}) is False
    assert reader.enabled_features({"userId": "u-1"}) == ["wiki"]
    assert reader.definitions() == {"version": 1, "features": [], "segments": []}


def test_before_start_and_after_stop(offline_url):
    reader = FlagReader(url=offline_url, client_token=TOKEN, bootstrap=BOOTSTRAP, defaults={"a": True},
                        app_name="unit-before-start", disable_metrics=True, disable_registration=True)
    assert reader.enabled("a", {}) is True and reader.enabled("wiki", {}) is False
    assert reader.health().stale
    reader.start()
    assert reader.enabled("wiki", {}) is True
    reader.stop()
    assert reader.enabled("wiki", {}) is True  # the last data stays; health goes stale
    with pytest.raises(RuntimeError, match="stopped"):
        reader.start()


def test_definitions_export_bootstraps_another_reader(start):
    first = start(bootstrap=BOOTSTRAP, app_name="unit-export-1")
    exported = first.definitions()
    assert {f["name"] for f in exported["features"]} == {"innovation-blog", "wiki", "old-forum"}
    assert exported["segments"] == BOOTSTRAP["segments"]
    second = start(bootstrap=exported, app_name="unit-export-2")
    for user in ("u-pilot-1", "u-other"):
        assert second.enabled_features({"userId": user}) == first.enabled_features({"userId": user})


def test_file_cache_left_by_an_earlier_process_is_reported(start, tmp_path):
    first = start(bootstrap=BOOTSTRAP, cache_directory=str(tmp_path), app_name="unit-disk")
    first.stop()
    second = start(cache_directory=str(tmp_path), app_name="unit-disk")
    assert second.health().source == "cache"
    assert second.enabled("wiki", {"userId": "u-1"})


def test_the_token_never_shows(start):
    reader = start(bootstrap=BOOTSTRAP)
    for text in (repr(reader), str(reader.health()), str(reader.health().as_dict()), str(vars(reader.health()))):
        assert TOKEN not in text and SECRET not in text
    assert "127.0.0.1" in repr(reader)


def test_bad_configuration_is_refused_early():
    with pytest.raises(ValueError, match="url"):
        FlagReader(url="127.0.0.1:4242/api", client_token=TOKEN)
    with pytest.raises(ValueError, match="bootstrap"):
        FlagReader(url="http://127.0.0.1:4242/api", client_token=TOKEN, bootstrap={"flags": []})
    with pytest.raises(ValueError, match="refresh_interval"):
        FlagReader(url="http://127.0.0.1:4242/api", client_token=TOKEN, refresh_interval=0)
    with pytest.raises(ValueError) as error:
        FlagReader(url="http://user:pw-secret@127.0.0.1:4242", client_token=TOKEN, refresh_interval=0)
    assert "pw-secret" not in str(error.value)


def test_answers_from_many_threads_while_the_sdk_polls(start):
    reader = start(bootstrap=BOOTSTRAP)
    wrong: list[str] = []

    deadline = time.monotonic() + 1.5  # spans a poll (refresh_interval=1)

    def ask() -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            pilot = i % 2 == 0
            user = "u-pilot-2" if pilot else f"u-{i}"
            if reader.enabled("innovation-blog", {"userId": user}) is not pilot:
                wrong.append(user)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
