"""The flag reader against the real Unleash server started by `make unleash`."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from flags.reader import FlagReader
from tests.integration.unleash import unleash_env
from tests.ports import free_port
from tests.readers import started_readers

pytestmark = pytest.mark.integration

_ENV = unleash_env(module_level=True)
URL, ADMIN_TOKEN, CLIENT_TOKEN = _ENV["UNLEASH_URL"], _ENV["UNLEASH_ADMIN_TOKEN"], _ENV["UNLEASH_CLIENT_TOKEN"]
PROJECT = "default"
ENV = "development"
REFRESH = 1
SECRET = CLIENT_TOKEN.rsplit(".", 1)[-1]
BOOT_FLAG = f"it-reader-boot-{uuid.uuid4().hex[:8]}"  # exists only in the bootstrap copy
BOOTSTRAP = {"version": 1, "segments": [], "features": [
    {"name": BOOT_FLAG, "enabled": True, "strategies": [{"name": "default"}]}]}


@pytest.fixture
def flag_name(admin):
    """A unique flag name; the flag is archived afterwards (not deleted at once: see test_admin_client_live)."""
    name = f"it-reader-{uuid.uuid4().hex[:10]}"
    yield name
    if name in {f["name"] for f in admin.list_features(PROJECT)}:
        admin.archive_feature(PROJECT, name)


@pytest.fixture
def start():
    with started_readers(url=URL, client_token=CLIENT_TOKEN, app_name=f"it-reader-{uuid.uuid4().hex[:8]}",
                         environment=ENV, refresh_interval=REFRESH) as start_reader:
        yield start_reader


def wait_until(predicate, timeout: float) -> float:
    """Seconds until `predicate()` held; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def assert_fresh(reader: FlagReader) -> None:
    health = reader.health()
    assert health.ever_fetched and not health.stale and health.last_error is None
    assert health.source == "unleash"
    assert datetime.now(UTC) - health.last_success < timedelta(seconds=REFRESH + 2)


def assert_unhealthy(reader: FlagReader, *words: str) -> None:
    health = reader.health()
    assert health.stale and not health.ever_fetched and health.last_success is None
    assert health.last_error and all(word in health.last_error for word in words), health.last_error
    for text in (health.last_error, repr(reader), str(health.as_dict())):
        assert CLIENT_TOKEN not in text and SECRET not in text
    # with a bootstrap copy the reader keeps answering from it
    assert health.source == "bootstrap"
    assert reader.enabled(BOOT_FLAG, {"userId": "u-1"})
    assert reader.definitions()["features"][0]["name"] == BOOT_FLAG


class Forwarder(socketserver.ThreadingTCPServer):
    """A loopback TCP pipe to the real server: stopping it is Unleash going away mid-run."""

    daemon_threads = True

    def __init__(self, target: tuple[str, int]) -> None:
        class Pipe(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(target) as upstream:
                    pump = threading.Thread(target=copy, args=(upstream, self.request), daemon=True)
                    pump.start()
                    copy(self.request, upstream)
                    pump.join(timeout=5)

        super().__init__(("127.0.0.1", 0), Pipe)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/api"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def test_a_flag_turned_on_in_unleash_reaches_the_reader_within_a_poll(admin, start, flag_name):
    admin.create_feature(PROJECT, name=flag_name, description="reader live test")
    admin.add_strategy(PROJECT, flag_name, ENV, {
        "name": "flexibleRollout",
        "parameters": {"rollout": "100", "stickiness": "default", "groupId": flag_name},
        "constraints": [{"contextName": "userId", "operator": "IN", "values": ["u-pilot"]}],
    })
    reader = start(bootstrap=BOOTSTRAP)
    assert_fresh(reader)  # the first fetch happens in start(): live data replaced the bootstrap
    assert not reader.enabled(BOOT_FLAG, {"userId": "u-pilot"})
    assert not reader.enabled(flag_name, {"userId": "u-pilot"})

    admin.set_environment_enabled(PROJECT, flag_name, ENV, True)
    took = wait_until(lambda: reader.enabled(flag_name, {"userId": "u-pilot"}), timeout=REFRESH + 2)
    print(f"flag seen by the reader {took:.2f} s after it was turned on")
    assert not reader.enabled(flag_name, {"userId": "u-someone-else"})
    assert flag_name in reader.enabled_features({"userId": "u-pilot"})
    assert reader.enabled_features({"userId": "u-pilot"}, [flag_name, "it-no-such-flag"]) == [flag_name]
    assert_fresh(reader)

    # what the reader holds is a bootstrap that answers the same without a server
    exported = reader.definitions()
    assert flag_name in {f["name"] for f in exported["features"]}
    offline = start(url=f"http://127.0.0.1:{free_port()}/api", bootstrap=exported)
    assert offline.health().source == "bootstrap"
    assert offline.enabled(flag_name, {"userId": "u-pilot"})
    assert not offline.enabled(flag_name, {"userId": "u-someone-else"})


def test_health_stays_fresh_while_unleash_answers_not_modified(start):
    reader = start()
    time.sleep(11)  # past the 10 s threshold: unchanged polls (304) must count as successes
    assert_fresh(reader)


def test_url_without_api_is_unhealthy(start):
    root = urlsplit(URL)
    reader = start(url=f"http://127.0.0.1:{root.port}/", bootstrap=BOOTSTRAP)
    assert_unhealthy(reader, "403", "/api")


def test_wrong_token_is_unhealthy(start):
    reader = start(client_token=f"default:{ENV}.{uuid.uuid4().hex}", bootstrap=BOOTSTRAP)
    assert_unhealthy(reader, "401", "client (backend) API token")


def test_admin_token_instead_of_client_token_is_unhealthy(start):
    reader = start(client_token=ADMIN_TOKEN, bootstrap=BOOTSTRAP)
    assert_unhealthy(reader, "403", "not an admin or frontend token")
    assert ADMIN_TOKEN.rsplit(".", 1)[-1] not in reader.health().last_error


def test_stopped_server_is_unhealthy(start):
    reader = start(url=f"http://127.0.0.1:{free_port()}/api", bootstrap=BOOTSTRAP)
    assert_unhealthy(reader, "could not", "127.0.0.1")
    time.sleep(REFRESH + 0.5)  # later polls keep it so
    assert_unhealthy(reader, "could not")


def test_unleash_going_away_after_start_turns_stale_and_keeps_the_live_data(start):
    root = urlsplit(URL)
    forwarder = Forwarder((root.hostname, root.port))
    try:
        reader = start(url=forwarder.url, bootstrap=BOOTSTRAP)
        assert_fresh(reader)
        live = reader.definitions()
    finally:
        forwarder.stop()
    wait_until(lambda: reader.health().last_error is not None, timeout=REFRESH + 2)
    health = reader.health()
    assert "could not" in health.last_error and forwarder.url in health.last_error
    assert health.source == "unleash" and health.ever_fetched  # the last live data, not the bootstrap
    assert not reader.enabled(BOOT_FLAG, {"userId": "u-1"})
    assert reader.definitions() == live
    last_success = health.last_success
    wait_until(lambda: reader.health().stale, timeout=10 + REFRESH + 2)
    assert reader.health().last_success == last_success
