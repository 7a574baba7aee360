"""Sync against the real Unleash server: idempotence, minimal changes, ownership, drift, faults, size."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from flags.admin import UnleashAdmin
from planner.db import session_scope
from planner.model import Cohort, CohortKind, Feature, Rule
from planner.planfile import load_plan
from planner.plans import apply_plan
from planner.store import plan_row
from planner.syncruns import SyncBusy, acquire_lease, release_lease, runs, start_run
from tests.integration.unleash import unique
from services.sync import sync_plan

pytestmark = pytest.mark.integration

PLAN = """
plan: {key}
flag_prefix: {prefix}
unleash: {{project: default, environment: development}}
features:
  - {{key: blog}}
  - {{key: wiki}}
  - {{key: forum}}
cohorts:
  - {{key: pilot, kind: opt_in}}
  - {{key: champions, kind: list, users: [c-1, c-2]}}
  - {{key: hr, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}
  - {{key: all, kind: everyone}}
phases:
  - {{key: pilot, starts: "2030-01-10T08:00:00+01:00", cohorts: [pilot, champions], features: [blog, wiki]}}
  - {{key: wave-1, starts: "2030-02-01T08:00:00+01:00", cohorts: [hr], features: [forum]}}
  - {{key: general, starts: "2030-03-01T08:00:00+01:00", cohorts: [all]}}
"""


@pytest.fixture
def plan():
    return load_plan(PLAN.format(key=unique("sync-"), prefix=unique("s") + "-"))


def apply(database_url, plan):
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="test")


def sync(database_url, plan, admin, **kw):
    result = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test", **kw)
    assert result.outcome == "ok", result.error
    return result.as_json()


def test_first_sync_creates_and_the_second_makes_zero_writes(each_database_url, plan, admin):
    database_url = each_database_url
    apply(database_url, plan)
    dry = sync(database_url, plan, admin, dry_run=True)
    assert dry["writes"] == 0 and dry["created"] > 0
    first = sync(database_url, plan, admin)
    # 3 flags; 2 cohort segments (the empty opt-in cohort and everyone need none) and 3 phase segments;
    # strategies for blog, wiki and forum x (champions, hr, all): the pilot cohort has no members yet, so no
    # strategy of its own
    assert first["created"] == 3 + 2 + 3 + 9 and first["updated"] == 3  # 3 environments turned on
    assert first["writes"] == first["created"] + first["updated"]
    assert [c["text"] for c in first["items"]] == [c["text"] for c in dry["items"]]
    second = sync(database_url, plan, admin)
    assert second["writes"] == 0 and second["items"] == []
    assert second["unchanged"] == first["created"] + 3  # the 3 toggles are checked too
    state = admin.read_project_state("default", "development")
    assert all(state.flags[plan.flag_name(f.key)].enabled for f in plan.features)


def test_changing_one_phases_cohorts_changes_only_the_affected_strategies(database_url, plan, admin):
    apply(database_url, plan)
    sync(database_url, plan, admin)
    it = Cohort(key="it", kind=CohortKind.attribute, rules=(Rule(property="department", operator="IN", values=("IT",)),))
    wave = plan.phases[1].model_copy(update={"cohorts": ("it",)})
    changed = plan.model_copy(update={"cohorts": plan.cohorts + (it,),
                                      "phases": (plan.phases[0], wave, plan.phases[2])})
    apply(database_url, changed)
    result = sync(database_url, changed, admin)
    # wave-1 now admits IT instead of HR: HR's three strategies go (its segment stays: the cohort is still
    # in the plan), IT's segment and strategies come; nothing else moves
    got = sorted((c["kind"], c["action"], c["name"], c["flag"] or "") for c in result["items"])
    hr, it_name = f"rp:{plan.key}:hr:1", f"rp:{plan.key}:it:1"
    flags = sorted(plan.flag_name(f) for f in ("blog", "forum", "wiki"))
    assert got == sorted([("segment", "create", it_name, "")]
                         + [("strategy", "create", it_name, f) for f in flags]
                         + [("strategy", "delete", hr, f) for f in flags])
    assert result["writes"] == 7


def test_removed_feature_is_archived_and_hand_made_objects_are_untouched(database_url, plan, admin, env):
    apply(database_url, plan)
    sync(database_url, plan, admin)
    hand_flag = unique("hand-made-")
    admin.create_feature("default", name=hand_flag, description="made by a person")
    wiki = plan.flag_name("wiki")
    admin.add_strategy("default", wiki, "development", {"name": "default", "constraints": [], "parameters": {}})
    try:
        smaller = plan.model_copy(update={"features": tuple(f for f in plan.features if f.key != "blog"),
                                          "phases": tuple(p.model_copy(update={"features": tuple(
                                              f for f in p.features if f != "blog")}) for p in plan.phases)})
        apply(database_url, smaller)
        result = sync(database_url, smaller, admin)
        assert ("flag", "archive", plan.flag_name("blog")) in [(c["kind"], c["action"], c["name"]) for c in result["items"]]
        assert any(wiki in line for line in result["not_owned"])
        state = admin.read_project_state("default", "development", include_archived=True)
        assert state.flags[plan.flag_name("blog")].archived
        assert hand_flag in state.flags and not state.flags[hand_flag].archived
        assert any(s["name"] == "default" and not s.get("title") for s in state.flags[wiki].strategies)
        assert sync(database_url, smaller, admin)["writes"] == 0
        # the feature comes back: its archived flag is revived, not refused
        apply(database_url, plan)
        sync(database_url, plan, admin)
        state = admin.read_project_state("default", "development")
        assert not state.flags[plan.flag_name("blog")].archived
        again = sync(database_url, plan, admin)
        assert again["writes"] == 0, again["items"]
    finally:
        admin.archive_feature("default", hand_flag)


def test_hand_edits_are_reported_as_drift_and_restored(database_url, plan, admin):
    apply(database_url, plan)
    sync(database_url, plan, admin)
    flag = plan.flag_name("blog")
    strategy = next(s for s in admin.list_strategies("default", flag, "development") if s.get("title", "").endswith(":hr:1"))
    admin.update_strategy("default", flag, "development", strategy["id"],
                          {**strategy, "parameters": {**strategy["parameters"], "rollout": "99"}})
    admin.set_environment_enabled("default", plan.flag_name("wiki"), "development", False)
    dry = sync(database_url, plan, admin, dry_run=True)
    assert dry["drift"] == 2 and {c["name"] for c in dry["items"] if c["drift"]} == {
        strategy["title"], plan.flag_name("wiki")}
    restored = sync(database_url, plan, admin)
    assert restored["writes"] == 2
    assert sync(database_url, plan, admin)["writes"] == 0


def test_a_5000_user_list_cohort_syncs_within_the_servers_limits(database_url, plan, admin):
    big = Cohort(key="champions", kind=CohortKind.list, users=tuple(f"member-{i:05d}" for i in range(5000)))
    plan = plan.model_copy(update={"cohorts": tuple(big if c.key == "champions" else c for c in plan.cohorts)})
    apply(database_url, plan)
    first = sync(database_url, plan, admin)
    state = admin.read_project_state("default", "development")
    ours = [s for s in state.segments if s["name"].startswith(f"rp:{plan.key}:champions:")]
    assert len(ours) == 20 and sum(len(s["constraints"][0]["values"]) for s in ours) == 5000
    assert first["writes"] > 0
    assert sync(database_url, plan, admin)["writes"] == 0


class FailAfter(httpx.BaseTransport):
    """Passes requests to the real server until `writes` writes have gone through, then fails like a
    server that went down."""

    def __init__(self, writes: int):
        self.left = writes
        self.real = httpx.HTTPTransport()

    def handle_request(self, request):
        if request.method != "GET":
            if self.left <= 0:
                raise httpx.ConnectError("connection refused", request=request)
            self.left -= 1
        return self.real.handle_request(request)


def test_unleash_going_down_mid_sync_loses_nothing_and_the_next_sync_converges(database_url, plan, admin, env):
    apply(database_url, plan)
    broken = UnleashAdmin(env["UNLEASH_URL"], env["UNLEASH_ADMIN_TOKEN"], transport=FailAfter(7), retries=0)
    failed = sync_plan(database_url=database_url, plan_key=plan.key, admin=broken, actor="test")
    assert failed.outcome == "failed" and failed.writes == 7
    assert env["UNLEASH_ADMIN_TOKEN"] not in (failed.error or "")
    done = sync(database_url, plan, admin)
    assert done["created"] + done["updated"] == 20 - 7  # what the failed run did is not redone
    assert sync(database_url, plan, admin)["writes"] == 0
    with session_scope(database_url) as session:
        states = [r.state for r in runs(session, plan_row(session, plan.key).id)]
    assert states == ["done", "done", "failed"]


def test_a_second_sync_while_one_runs_is_refused_and_a_dead_ones_lease_expires(each_database_url, plan, admin):
    database_url = each_database_url
    apply(database_url, plan)
    with session_scope(database_url) as session:
        row = plan_row(session, plan.key)
        acquire_lease(session, row)
        start_run(session, plan_row=row, actor="a sync whose process is killed", dry_run=False)
    with pytest.raises(SyncBusy):
        sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    from datetime import timedelta

    from planner.tables import utcnow

    with session_scope(database_url) as session:
        row = plan_row(session, plan.key)
        row.sync_lease_until = utcnow() - timedelta(seconds=1)  # the holder died; its lease ran out
    assert sync(database_url, plan, admin)["writes"] > 0
    with session_scope(database_url) as session:
        assert [r.state for r in runs(session, plan_row(session, plan.key).id)] == ["done", "abandoned"]


def test_features_added_to_the_plan_appear_as_new_flags(database_url, plan, admin):
    apply(database_url, plan)
    sync(database_url, plan, admin)
    more = plan.model_copy(update={"features": plan.features + (Feature(key="events", name="Events"),)})
    apply(database_url, more)
    result = sync(database_url, more, admin)
    assert [(c["kind"], c["action"]) for c in result["items"]] == [("flag", "create")]


def test_a_sync_waits_for_an_opt_in_push_round_but_not_for_another_sync(database_url, plan, admin):
    apply(database_url, plan)
    with session_scope(database_url) as session:
        row = plan_row(session, plan.key)
        owner = acquire_lease(session, row, push_round=True)  # a pusher (of any process) is mid-round

    def round_ends() -> None:
        time.sleep(0.5)
        with session_scope(database_url) as session:
            release_lease(session, row.id, owner)

    ender = threading.Thread(target=round_ends)
    started = time.monotonic()
    ender.start()
    outcome = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead")
    ender.join()
    assert outcome.outcome == "ok" and time.monotonic() - started >= 0.5
    with session_scope(database_url) as session:
        acquire_lease(session, plan_row(session, plan.key))  # a sync: the next one is refused at once
    started = time.monotonic()
    with pytest.raises(SyncBusy, match="another sync"):
        sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="lead")
    assert time.monotonic() - started < 5
