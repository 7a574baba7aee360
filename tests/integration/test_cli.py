"""The `planner` command as a newcomer uses it: apply, list, export, preview, sync."""

from __future__ import annotations

import json

import pytest

from tests.plans import open_gates
from typer.testing import CliRunner

from cli.main import app
from planner.db import session_scope
from planner.store import load_plan
from tests.plans import DEMO
from tests.ports import free_port

runner = CliRunner()


@pytest.fixture
def cli_env(database_url, monkeypatch):
    monkeypatch.setenv("PLANNER_DATABASE_URL", database_url)
    return database_url


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_invalid_plan_file_reports_every_error_and_changes_nothing(cli_env, tmp_path):
    assert run("plan", "apply", str(DEMO)).exit_code == 0
    broken = DEMO.read_text().replace("starts: \"2026-12-07T08:00:00+01:00\"", "starts: \"2026-10-07T08:00:00+01:00\"")
    broken = broken.replace("cohorts: [hr, sales-quarter]", "cohorts: [hr, sales]").replace("target: \">= 4\"", "target: high")
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = run("plan", "apply", str(path))
    assert result.exit_code == 1
    assert "3 error(s), nothing applied" in result.output
    assert "phases[1].starts: must be after phases[0].starts (2026-11-02T08:00:00+01:00)" in result.output
    assert "phases[1].cohorts[1]: unknown cohort 'sales'" in result.output
    assert "kpis[2].target: 'high' must be a comparison and a number" in result.output
    with session_scope(cli_env) as session:
        stored = load_plan(session, "intranet-rollout")
    assert stored is not None and stored.phases[1].cohorts == ("hr", "sales-quarter")


def test_apply_twice_export_and_reapply(cli_env, tmp_path):
    first = run("plan", "apply", str(DEMO))
    assert first.exit_code == 0 and "created (version 1)" in first.output
    again = run("plan", "apply", str(DEMO))
    assert "unchanged (version 1)" in again.output
    exported = run("plan", "export", "intranet-rollout")
    assert exported.exit_code == 0
    assert "unchanged (version 1)" in run("plan", "apply", "-", input=exported.output).output
    assert "intranet-rollout" in run("plan", "list").output


def test_preview_of_a_user_says_which_features_and_why(cli_env):
    run("plan", "apply", str(DEMO))
    open_gates(cli_env, "intranet-rollout")  # Wave 1's gate: as if it had passed
    result = run("preview", "intranet-rollout", "--at", "2026-12-08T10:00+01:00", "--user", "u-7",
                 "--prop", "department=HR")
    assert result.exit_code == 0
    assert "Wiki: cohort “HR” (admitted by phase “Wave 1”, feature enabled by phase “Pilot”)" in result.output
    assert "Communities" not in result.output and "gate" not in result.output


def test_preview_says_which_phases_wait_for_their_gate(cli_env):
    run("plan", "apply", str(DEMO))
    result = run("preview", "intranet-rollout", "--at", "2026-12-08T10:00+01:00", "--user", "u-7",
                 "--prop", "department=HR")
    assert result.exit_code == 0 and "user 'u-7' gets no feature" in result.output
    assert "note: Wave 1 waits for its gate" in result.output and "planner kpi list intranet-rollout" in result.output
    naive = run("preview", "intranet-rollout", "--at", "2026-12-08T10:00")
    assert naive.exit_code != 0 and "needs a timezone" in naive.output


def test_unknown_plan_is_a_clear_error(cli_env):
    result = run("preview", "nope", "--at", "2026-12-08T10:00+01:00")
    assert result.exit_code == 1 and "no plan 'nope'" in result.output


@pytest.mark.integration
def test_sync_json_gives_counts_and_items_and_no_secret(cli_env, monkeypatch, tmp_path):
    from tests.integration.unleash import unique, unleash_env

    env = unleash_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key = unique("cli-")
    text = DEMO.read_text().replace("plan: intranet-rollout", f"plan: {key}\nflag_prefix: {key}-")
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    assert run("plan", "apply", str(path)).exit_code == 0
    dry = run("sync", key, "--dry-run")
    assert dry.exit_code == 0 and "dry run: would" in dry.output and f"create flag '{key}-wiki'" in dry.output
    result = run("sync", key, "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert {"created", "updated", "deleted", "unchanged", "writes", "items"} <= set(data)
    assert data["writes"] == len(data["items"]) > 0
    second = json.loads(run("sync", key, "--json").output)
    assert second["writes"] == 0 and second["unchanged"] == data["created"] + data["updated"]
    assert env["UNLEASH_ADMIN_TOKEN"] not in result.output + dry.output
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", "*:*.wrong-secret-123456")
    refused = run("sync", key)
    assert refused.exit_code == 1 and "wrong-secret-123456" not in refused.output
    assert "admin API token" in refused.output and "nothing is lost" not in refused.output


def test_a_database_that_is_not_set_up_gets_advice_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = run("plan", "list")
    assert result.exit_code == 1 and "run `planner db upgrade`" in result.output
    assert "Traceback" not in result.output
    monkeypatch.setenv("PLANNER_DATABASE_URL", "postgresql+psycopg://planner:hunter2-secret@127.0.0.1:1/none")
    unreachable = run("plan", "list")
    assert unreachable.exit_code == 1 and "hunter2-secret" not in unreachable.output
    assert "check PLANNER_DATABASE_URL" in unreachable.output


def test_help_needs_no_database_and_a_missing_one_is_not_created(tmp_path, monkeypatch):
    database = tmp_path / "planner.db"
    monkeypatch.setenv("PLANNER_DATABASE_URL", f"sqlite:///{database}")
    for words in (["--help"], ["phase", "--help"], ["phase"], ["phase", "hold", "--help"], ["kpi"], ["plan", "apply", "--help"]):
        result = run(*words)
        assert "Usage: " in result.output and "error:" not in result.output, (words, result.output)
    missing = run("plan", "list")
    assert missing.exit_code == 1 and f"there is no database at {database} yet" in missing.output
    assert "planner db upgrade" in missing.output and not database.exists()  # asking made no empty file


def test_serve_with_two_workers_shares_sessions_between_them(tmp_path):
    """`planner serve --workers 2`: both processes answer, and a development sign-in made by one is good in
    the other (they share one session secret, made up by the parent)."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    port = free_port()
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    env = {k: v for k, v in os.environ.items() if k != "PLANNER_SESSION_SECRET"}
    env.update(PLANNER_DATABASE_URL=url, PLANNER_DEV_LOGIN="true", PLANNER_BACKGROUND="false")
    planner = str(Path(sys.executable).parent / "planner")
    assert subprocess.run([planner, "db", "upgrade"], env=env, capture_output=True).returncode == 0
    server = subprocess.Popen([planner, "serve", "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        processes: set[int] = set()
        deadline = time.monotonic() + 60
        while len(processes) < 2 and time.monotonic() < deadline:
            try:
                processes.add(httpx.get(f"{base}/health", timeout=5).json()["process"])  # a new connection each
            except httpx.HTTPError:
                time.sleep(0.3)
        assert len(processes) == 2
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
            assert browser.post("/login", data={"user": "ada", "role": "pilot", "csrf_token": token}).status_code == 303
            cookies = dict(browser.cookies)
        answered_by: set[int] = set()
        for _ in range(100):  # new connections land on either worker; each must know the session
            with httpx.Client(base_url=base, cookies=cookies) as other:
                assert other.get("/pilot").status_code == 200  # not a redirect to the sign-in
                answered_by.add(other.get("/health").json()["process"])
            if answered_by == processes:
                break
        assert answered_by == processes
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)


def test_a_plan_file_that_is_not_utf8_or_repeats_a_key_is_one_clear_error(cli_env, tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("plan: a\ntitle: Einführung\n".encode("latin-1"))
    result = run("plan", "apply", str(latin))
    assert result.exit_code == 1 and "(file): is not UTF-8 text; save the plan file as UTF-8" in result.output
    twice = tmp_path / "twice.yaml"
    twice.write_text("plan: a\nfeatures: [{key: blog}]\nfeatures: [{key: wiki}]\n")
    result = run("plan", "apply", str(twice))
    assert result.exit_code == 1 and "'features' is given twice in one mapping (first on line 2)" in result.output
    assert "Traceback" not in result.output and run("plan", "list").output.startswith("no plans yet")
