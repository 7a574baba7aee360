"""Sync jobs in the database, against the real Unleash and real processes: a job any worker follows, and a
job whose process is killed, marked abandoned once its lease runs out, after which the next sync converges."""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import timedelta

import httpx
import pytest

from planner.db import session_scope
from planner.planfile import load_plan
from planner.store import plan_row
from planner.syncruns import latest_job
from services.plans import apply_plan
from services.sync import LeaseTiming, sync_history, sync_plan
from tests.integration.unleash import unique
from tests.serving import PLANNER, planner_serve

pytestmark = pytest.mark.integration


def big_plan(features: int):
    """A plan whose first sync takes a few hundred writes: long enough to watch, or to kill half-way."""
    keys = [f"f{i:03d}" for i in range(features)]
    lines = [f"plan: {unique('jobs-')}", f"flag_prefix: {unique('j')}-",
             "unleash: {project: default, environment: development}", "features:"]
    lines += [f"  - {{key: {k}}}" for k in keys]
    lines += ["cohorts:", "  - {key: champions, kind: list, users: [c-1, c-2]}",
              "  - {key: hr, kind: attribute, rules: [{property: department, operator: IN, values: [HR]}]}",
              "phases:", f"  - {{key: pilot, starts: '2030-01-10T08:00:00+01:00', cohorts: [champions, hr], "
                         f"features: [{', '.join(keys)}]}}"]
    return load_plan("\n".join(lines) + "\n")


def wait_for(condition, *, deadline: float, what: str):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def current_job(database_url: str, key: str):
    with session_scope(database_url) as session:
        return latest_job(session, plan_row(session, key).id)


def killed_mid_sync(database_url: str, plan_key: str, *command: str):
    """Run `planner <command>` with a 4 s sync lease until its sync job has written, SIGKILL it, and return the
    job as it was then."""
    env = {**os.environ, "PLANNER_DATABASE_URL": database_url, "PLANNER_SYNC_LEASE_SECONDS": "4",
           "PLANNER_SYNC_HEARTBEAT_SECONDS": "1"}
    proc = subprocess.Popen([PLANNER, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_for(lambda: (j := current_job(database_url, plan_key)) is not None and j.progress_done > 0 and j,
                        deadline=60, what="the sync to write")
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_killed_sync_is_marked_abandoned_and_the_next_sync_converges(database_url, admin):
    plan = big_plan(60)
    apply_plan(database_url=database_url, plan=plan, actor="test")
    running = killed_mid_sync(database_url, plan.key, "sync", plan.key)
    assert running.state == "running" and running.progress_done < running.progress_total
    timing = LeaseTiming(hold=timedelta(seconds=4), heartbeat=1)
    abandoned = wait_for(lambda: (p := sync_history(database_url=database_url, key=plan.key, timing=timing)).job
                         and p.job.state == "abandoned" and p.job, deadline=30, what="the job to be marked abandoned")
    assert abandoned.id == running.id and "next sync converges" in abandoned.error
    after = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test", timing=timing)
    assert after.outcome == "ok", after.error
    assert 0 < after.writes < running.progress_total + 1  # it went on from where the killed one stopped
    again = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test", timing=timing)
    assert again.outcome == "ok" and again.writes == 0


def test_a_sync_started_on_one_worker_is_followed_to_its_end_on_the_other(tmp_path):
    """`planner serve --workers 2`: the Apply lands on one process, the job's progress is read from its row by
    whichever process answers, and the panel opened afterwards shows a fresh diff and an Apply button."""
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    env = {k: v for k, v in os.environ.items() if k != "PLANNER_SESSION_SECRET"}
    env.update(PLANNER_DATABASE_URL=url, PLANNER_DEV_LOGIN="true", PLANNER_BACKGROUND="false")
    assert subprocess.run([PLANNER, "db", "upgrade"], env=env, capture_output=True).returncode == 0
    plan = big_plan(40)
    apply_plan(database_url=url, plan=plan, actor="test")
    with planner_serve(env, workers=2) as (_server, base):
        with httpx.Client(base_url=base, timeout=30) as browser:
            token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
            assert browser.post("/login", data={"user": "lea", "role": "lead", "csrf_token": token}).status_code == 303
            cookies = dict(browser.cookies)
            headers = {"X-CSRF-Token": token, "HX-Request": "true"}
            started = browser.post(f"/plans/{plan.key}/sync", headers=headers)
            assert started.status_code == 200 and ("Applying" in started.text or "Starting" in started.text)
            job = int(re.search(r"/sync/jobs/(\d+)", started.text).group(1))
        answered_by: set[int] = set()
        seen_done: list[int] = []

        def poll():
            with httpx.Client(base_url=base, cookies=cookies, timeout=30) as other:  # a new connection: any worker
                answered_by.add(other.get("/health").json()["process"])
                page = other.get(f"/plans/{plan.key}/sync/jobs/{job}", headers={"HX-Request": "true"})
                assert page.status_code == 200
                found = re.search(r"(\d+) of (\d+) changes written", page.text)
                if found:
                    seen_done.append(int(found.group(1)))
                return "What a sync would change" in page.text or "already matches the plan" in page.text

        wait_for(poll, deadline=120, what="the job to end")
        assert seen_done == sorted(seen_done)  # progress never goes back, whoever answers
        wait_for(lambda: poll() and len(answered_by) == 2, deadline=60, what="both workers to answer")
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as later:
            panel = later.get(f"/plans/{plan.key}/sync", headers={"HX-Request": "true"})
            assert panel.status_code == 200 and "already matches the plan" in panel.text  # a fresh diff
            assert "Synced" in panel.text and "Applying" not in panel.text
        # a change made since: the panel shows it with an Apply button, not the old result
        more = plan.model_copy(update={"features": plan.features[:-1]})
        apply_plan(database_url=url, plan=more, actor="test")
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as later:
            panel = later.get(f"/plans/{plan.key}/sync", headers={"HX-Request": "true"})
            assert "What a sync would change" in panel.text and re.search(r"<button>Apply \d+ change", panel.text)



def test_the_api_starts_a_sync_job_and_records_only_the_dry_runs_a_lead_asks_for(database_url, admin):
    from planner.syncruns import acquire_lease, release_lease
    from services.settings import Settings
    from tests.web.conftest import sign_in
    from web.app import create_app

    plan = big_plan(5)
    apply_plan(database_url=database_url, plan=plan, actor="test")
    app = create_app(settings=Settings(dev_login=True, session_secret="t" * 32, database_url=database_url,
                                       background=False))
    lead = sign_in(app, "lead-1", "lead")
    syncs = f"/api/plans/{plan.key}/syncs"
    assert lead.client.post(syncs, json={"dry_run": True}).status_code == 403  # a cookie needs the CSRF token
    dry = lead.client.post(syncs, json={"dry_run": True}, headers={"X-CSRF-Token": lead.csrf})
    assert dry.status_code == 200 and dry.json()["writes"] == 0 and dry.json()["created"] > 0
    assert [(j["dry_run"], j["state"]) for j in lead.get(syncs).json()] == [(True, "done")]  # asked for: recorded
    with session_scope(database_url) as session:  # another sync holds the plan
        owner = acquire_lease(session, plan_row(session, plan.key))
    assert lead.client.post(syncs, json={}, headers={"X-CSRF-Token": lead.csrf}).status_code == 409
    with session_scope(database_url) as session:
        release_lease(session, plan_row(session, plan.key).id, owner)
    started = lead.client.post(syncs, json={}, headers={"X-CSRF-Token": lead.csrf})
    assert started.status_code == 202 and started.json()["state"] in ("queued", "running")
    follow = started.headers["Location"]
    done = wait_for(lambda: (j := lead.get(follow).json())["state"] not in ("queued", "running") and j,
                    deadline=60, what="the job to end")
    assert done["state"] == "done" and done["writes"] == done["progress"]["total"] > 0 and done["actor"] == "lead-1"
    again = lead.client.post(syncs, json={"dry_run": True}, headers={"X-CSRF-Token": lead.csrf}).json()
    assert again["items"] == [] and again["outcome"] == "ok"
    assert lead.get(f"{syncs}/999999").status_code == 404
