"""`planner bootstrap PLAN` against the real Unleash: exactly the plan's flags and segments, and clear refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.plans import DEMO

PLANNER = str(Path(sys.executable).with_name("planner"))
FEATURES = ("innovation-blog", "wiki", "microblog", "communities")
# a second, small plan synced beside the first: its flags and segments must stay out of the first's bootstrap
NEIGHBOUR = """
plan: {key}
flag_prefix: {key}-
unleash: {{project: default, environment: development}}
features: [{{key: wiki}}]
cohorts: [{{key: hr, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}]
phases: [{{key: only, starts: "2030-01-10T08:00:00+01:00", cohorts: [hr], features: [wiki]}}]
"""


def plan_key() -> str:
    """A key the session's clean-up recognises as a test plan's, so the shared Unleash is left clean."""
    return f"cli-{uuid.uuid4().hex[:8]}"


def planner(*args: str, database_url: str, cwd: Path, env: dict[str, str] | None = None,
            drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The `planner` command in its own process, as a person runs it (from a folder without a .env)."""
    environ = {k: v for k, v in os.environ.items() if k not in drop} | (env or {})
    environ["PLANNER_DATABASE_URL"] = database_url
    return subprocess.run([PLANNER, *args], env=environ, cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def apply(text: str, *, database_url: str, cwd: Path) -> None:
    path = cwd / f"plan-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text)
    result = planner("plan", "apply", str(path), database_url=database_url, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr


def demo_copy(key: str) -> str:
    return DEMO.read_text().replace("plan: intranet-rollout", f"plan: {key}\nflag_prefix: {key}-")


def bootstrap_when_published(key: str, flags: set[str], *, database_url: str, cwd: Path, env) -> dict:
    """`planner bootstrap`, again until the client API shows the sync: it publishes writes about once a second."""
    deadline = time.monotonic() + 20
    while True:
        result = planner("bootstrap", key, database_url=database_url, cwd=cwd, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        data = json.loads(result.stdout)
        if {f["name"] for f in data["features"]} == flags or time.monotonic() > deadline:
            return data
        time.sleep(0.5)


@pytest.mark.integration
def test_bootstrap_prints_exactly_the_plans_flags_and_the_segments_they_use(env, database_url, tmp_path):
    key, neighbour = plan_key(), plan_key()
    apply(demo_copy(key), database_url=database_url, cwd=tmp_path)
    apply(NEIGHBOUR.format(key=neighbour), database_url=database_url, cwd=tmp_path)
    for plan in (key, neighbour):
        synced = planner("sync", plan, database_url=database_url, cwd=tmp_path, env=env)
        assert synced.returncode == 0, synced.stdout + synced.stderr

    flags = {f"{key}-{f}" for f in FEATURES}
    data = bootstrap_when_published(key, flags, database_url=database_url, cwd=tmp_path, env=env)
    assert {f["name"] for f in data["features"]} == flags
    assert {"version", "features", "segments"} <= set(data)
    strategies = [s for f in data["features"] for s in f["strategies"]]
    assert strategies
    used = {segment for s in strategies for segment in s.get("segments", [])}
    assert used and {s["id"] for s in data["segments"]} == used
    assert all(s["name"].startswith(f"rp:{key}:") for s in data["segments"])
    assert env["UNLEASH_CLIENT_TOKEN"] not in json.dumps(data)

    other = bootstrap_when_published(neighbour, {f"{neighbour}-wiki"}, database_url=database_url, cwd=tmp_path,
                                     env=env)
    assert [f["name"] for f in other["features"]] == [f"{neighbour}-wiki"]
    assert not {s["id"] for s in other["segments"]} & used


@pytest.mark.integration
def test_a_wrong_client_token_is_named_and_not_shown(env, database_url, tmp_path):
    key = plan_key()
    apply(demo_copy(key), database_url=database_url, cwd=tmp_path)
    wrong = "default:development.wrong-secret-123456"
    result = planner("bootstrap", key, database_url=database_url, cwd=tmp_path,
                     env={**env, "UNLEASH_CLIENT_TOKEN": wrong})
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Unleash refused the client token" in output
    assert "wrong-secret-123456" not in output and "Traceback" not in output
    assert result.stdout == ""  # nothing that could be taken for a bootstrap file


def test_an_unknown_plan_is_one_line_and_no_traceback(database_url, tmp_path):
    result = planner("bootstrap", "nope", database_url=database_url, cwd=tmp_path)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert output.splitlines() == ["error: no plan 'nope' (see `planner plan list`)"]


def test_without_a_client_token_it_says_which_variable_is_missing(database_url, tmp_path):
    key = plan_key()
    apply(demo_copy(key), database_url=database_url, cwd=tmp_path)
    result = planner("bootstrap", key, database_url=database_url, cwd=tmp_path, drop=("UNLEASH_CLIENT_TOKEN",))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and result.stdout == ""
    assert "UNLEASH_CLIENT_TOKEN is not set" in output and "Traceback" not in output
