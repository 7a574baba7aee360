"""Unleash slow (a delaying TCP proxy on loopback): a sync gives up within its timeouts with a clear,
retryable failure and writes a job that says so; requests do not pile up; once Unleash is quick again
the next sync converges."""

from __future__ import annotations

import time

import pytest

from flags.admin import UnleashAdmin
from planner.planfile import load_plan
from services.plans import apply_plan
from services.sync import sync_history, sync_plan
from tests.integration.slow_proxy import SlowProxy
from tests.integration.test_sync import PLAN
from tests.integration.unleash import unique

pytestmark = pytest.mark.integration


def test_a_slow_unleash_is_a_clear_retryable_failure_and_the_next_sync_converges(database_url, env, admin):
    plan = load_plan(PLAN.format(key=unique("sync-"), prefix=unique("s") + "-"))
    apply_plan(database_url=database_url, plan=plan, actor="test")
    proxy = SlowProxy(env["UNLEASH_URL"], delay=3.0)
    try:
        slow = UnleashAdmin(proxy.url_for(env["UNLEASH_URL"]), env["UNLEASH_ADMIN_TOKEN"], timeout=1.0, retries=1,
                            backoff=0.05)
        began = time.monotonic()
        failed = sync_plan(database_url=database_url, plan_key=plan.key, admin=slow, actor="test")
        took = time.monotonic() - began
        assert failed.outcome == "failed" and failed.retryable and failed.writes == 0
        assert "timed out" in failed.error.lower() or "did not answer" in failed.error.lower(), failed.error
        assert env["UNLEASH_ADMIN_TOKEN"] not in failed.error
        assert took < 15  # the timeout and one retry, not a pile-up of waiting requests
        history = sync_history(database_url=database_url, key=plan.key)
        assert history.job.state == "failed" and history.job.error == failed.error
        proxy.delay = 0.0  # Unleash is quick again
        fast = UnleashAdmin(proxy.url_for(env["UNLEASH_URL"]), env["UNLEASH_ADMIN_TOKEN"], timeout=10.0)
        done = sync_plan(database_url=database_url, plan_key=plan.key, admin=fast, actor="test")
        assert done.outcome == "ok" and done.writes > 0, done.error
        again = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
        assert again.outcome == "ok" and again.writes == 0
    finally:
        proxy.close()
