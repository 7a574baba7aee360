"""`planner serve` decides trust in the SSO proxy's identity header on the real peer, not X-Forwarded-For."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

PLANNER = str(Path(sys.executable).parent / "planner")
LEAD = {"X-Forwarded-User": "anna", "X-Forwarded-Groups": "planner-leads"}


def serve(tmp_path, **settings: str):
    port = free_port()
    env = {**os.environ, "PLANNER_DATABASE_URL": f"sqlite:///{tmp_path / 'trust.db'}", "PLANNER_BACKGROUND": "false",
           "PLANNER_SESSION_SECRET": "s" * 32, **settings}
    assert subprocess.run([PLANNER, "db", "upgrade"], env=env, capture_output=True).returncode == 0
    server = subprocess.Popen([PLANNER, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/health", timeout=5)
            return server, base
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail("planner serve did not answer within 60 s")


def stop(server) -> None:
    os.killpg(server.pid, signal.SIGINT)
    server.wait(timeout=30)


def test_naming_the_proxy_in_x_forwarded_for_does_not_make_a_local_process_the_proxy(tmp_path):
    server, base = serve(tmp_path, PLANNER_TRUSTED_PROXIES=json.dumps(["10.9.9.9/32"]))
    try:
        forged = httpx.get(f"{base}/api/plans", headers={**LEAD, "X-Forwarded-For": "10.9.9.9"})
        assert forged.status_code == 403 and "only accepted from the SSO proxy" in forged.text
    finally:
        stop(server)


def test_a_proxy_on_this_host_that_adds_x_forwarded_for_is_trusted_and_a_doubled_identity_is_refused(tmp_path):
    server, base = serve(tmp_path)  # the defaults: the proxy runs on loopback
    try:
        behind = httpx.get(f"{base}/api/plans", headers={**LEAD, "X-Forwarded-For": "192.0.2.7"})
        assert behind.status_code == 200 and behind.json() == []
        doubled = httpx.get(f"{base}/api/plans", headers=[("X-Forwarded-User", "anna"), ("X-Forwarded-User", "bob"),
                                                          ("X-Forwarded-Groups", "planner-leads")])
        assert doubled.status_code == 400 and "given 2 times" in doubled.text
    finally:
        stop(server)
