"""`planner serve` decides trust in the SSO proxy's identity header on the real peer, not X-Forwarded-For."""

from __future__ import annotations

import json
import os
import subprocess

import httpx

from tests.serving import PLANNER, planner_serve

LEAD = {"X-Forwarded-User": "anna", "X-Forwarded-Groups": "planner-leads"}


def settings(tmp_path, **extra: str) -> dict[str, str]:
    env = {"PLANNER_DATABASE_URL": f"sqlite:///{tmp_path / 'trust.db'}", "PLANNER_BACKGROUND": "false",
           "PLANNER_SESSION_SECRET": "s" * 32, **extra}
    assert subprocess.run([PLANNER, "db", "upgrade"], env={**os.environ, **env},
                          capture_output=True).returncode == 0
    return env


def test_naming_the_proxy_in_x_forwarded_for_does_not_make_a_local_process_the_proxy(tmp_path):
    with planner_serve(settings(tmp_path, PLANNER_TRUSTED_PROXIES=json.dumps(["10.9.9.9/32"]))) as (_server, base):
        forged = httpx.get(f"{base}/api/plans", headers={**LEAD, "X-Forwarded-For": "10.9.9.9"})
        assert forged.status_code == 403 and "only accepted from the SSO proxy" in forged.text


def test_a_proxy_on_this_host_that_adds_x_forwarded_for_is_trusted_and_a_doubled_identity_is_refused(tmp_path):
    with planner_serve(settings(tmp_path)) as (_server, base):  # the defaults: the proxy runs on loopback
        behind = httpx.get(f"{base}/api/plans", headers={**LEAD, "X-Forwarded-For": "192.0.2.7"})
        assert behind.status_code == 200 and behind.json() == []
        doubled = httpx.get(f"{base}/api/plans", headers=[("X-Forwarded-User", "anna"), ("X-Forwarded-User", "bob"),
                                                          ("X-Forwarded-Groups", "planner-leads")])
        assert doubled.status_code == 400 and "given 2 times" in doubled.text
