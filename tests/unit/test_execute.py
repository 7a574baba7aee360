"""Applying a diff to Unleash: the order of the writes, and a failing write stopping the run."""

from __future__ import annotations

import itertools
import json
import re
import threading

import httpx
import pytest

from flags.admin import UnleashAdmin
from flags.desired import DesiredStateError
from flags.diff import diff, fingerprints
from flags.errors import UnleashRefused, UnleashUnavailable
from flags.reconcile import ORDER, SyncPlan, execute
from tests.unit.test_diff import PLAN, desired_of, flag_state, hr, strategy, unleash_as

FEATURES = "/api/admin/projects/default/features"
STRATEGIES = FEATURES + "/{flag}/environments/development/strategies"


class Unleash:
    """Answers the admin API's writes as Unleash 8.2 does; records (method, path, body) of each."""

    def __init__(self, fail: dict[tuple[str, str], int] | None = None, archived: list[dict] | None = None):
        self.fail = fail or {}
        self.archived = archived or []
        self.seen: list[tuple[str, str, object]] = []
        self.segment_ids: dict[str, int] = {}  # the id answered to each segment created
        self._ids = itertools.count(501)
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        body = json.loads(request.content) if request.content else None
        with self._lock:
            self.seen.append((method, path, body))
            new_id = next(self._ids)
        if (method, path) in self.fail:
            status = self.fail[(method, path)]
            return httpx.Response(status, json={"name": "BadDataError", "message": f"refused with {status}"})
        if method == "GET" and path == "/api/admin/search/features":
            return httpx.Response(200, json={"features": self.archived, "total": len(self.archived)})
        if method == "GET":
            return httpx.Response(200, json={"name": path.rsplit("/", 1)[-1]})
        if method == "POST" and path == FEATURES:
            return httpx.Response(201, json=body)
        if method == "POST" and path == "/api/admin/segments":
            self.segment_ids[body["name"]] = new_id
            return httpx.Response(201, json={**body, "id": new_id})
        if method == "POST" and path.endswith("/strategies"):
            return httpx.Response(200, json={**body, "id": f"s{new_id}"})
        return httpx.Response(200 if method != "DELETE" else 202)

    def writes(self) -> list[tuple[str, str, object]]:
        return [w for w in self.seen if w[0] != "GET"]


def admin_for(server: Unleash) -> UnleashAdmin:
    return UnleashAdmin("http://127.0.0.1:4242/api", "*:*.test-admin-token",
                        transport=httpx.MockTransport(server), backoff=0)


def stage_of(method: str, path: str, _body=None) -> tuple[str, str]:
    """Which (kind, action) of reconcile.ORDER a request belongs to."""
    if path.startswith("/api/admin/segments"):
        return ("segment", {"POST": "create", "PUT": "update", "DELETE": "delete"}[method])
    if path.endswith("/on") or path.endswith("/off"):
        return ("environment", "enable" if path.endswith("/on") else "disable")
    if "/strategies" in path:
        return ("strategy", {"POST": "create", "PUT": "update", "DELETE": "delete"}[method])
    if path.endswith("/revive"):
        return ("flag", "revive")
    return ("flag", {"POST": "create", "PATCH": "update", "DELETE": "archive"}[method])


def busy():
    """A sync with one change of every stage but revive: the plan moved on, and Unleash holds the old one."""
    before = desired_of(cohorts=[hr("HR"), {"key": "all", "kind": "everyone"}])
    actual = unleash_as(before)
    actual.segments.append({"id": 40, "name": "rp:demo:gone:1", "description": "", "constraints": []})
    actual.flags["wiki"].enabled = False
    blog = actual.flags.pop("blog")
    actual.flags["old"] = flag_state("old", "Old\n\n[managed by rollout planner: demo]",
                                     strategies=[{**s, "id": f"old-{n}"} for n, s in enumerate(blog.strategies)])
    strategy(actual, "wiki", "rp:demo:all")["parameters"]["rollout"] = "50"
    cohorts = [hr("HR", "People"), {"key": "all", "kind": "everyone"},
               {"key": "sales", "kind": "attribute", "rules": [{"property": "department", "operator": "IN",
                                                                "values": ["Sales"]}]}]
    phases = [{**PLAN["phases"][0], "cohorts": ["hr", "sales"]}, PLAN["phases"][1]]
    desired = desired_of(cohorts=cohorts, phases=phases,
                         features=[{"key": "wiki", "name": "Knowledge base"}, {"key": "blog", "name": "Blog"}])
    ids = {s["name"]: s["id"] for s in actual.segments if s["name"] in desired.segments}
    return SyncPlan(desired, diff(desired, actual, fingerprints(before)), ids)


def index(writes, method: str, path: str) -> int:
    return next(i for i, (m, p, _b) in enumerate(writes) if (m, p) == (method, path))


def indexes(writes, method: str, pattern: str) -> list[int]:
    return [i for i, (m, p, _b) in enumerate(writes) if m == method and re.fullmatch(pattern, p)]


def test_the_busy_sync_has_every_stage_but_revive():
    stages = {(c.kind, c.action) for c in busy().diff.changes}
    assert stages == set(ORDER) - {("flag", "revive")}


def test_writes_go_in_an_order_unleash_accepts():
    sync, server = busy(), Unleash()
    sent = execute(sync, admin=admin_for(server), concurrency=1)
    writes = server.writes()
    assert sent == len(writes) == len(sync.diff.changes)
    # a segment is there before a strategy uses it, and that strategy carries the id the server gave it
    created = index(writes, "POST", "/api/admin/segments")
    sales = server.segment_ids["rp:demo:sales:1"]
    uses_sales = [i for i, (m, p, b) in enumerate(writes) if "/strategies" in p and b and sales in b["segments"]]
    assert uses_sales and created < min(uses_sales)
    assert [b["title"] for _m, _p, b in (writes[i] for i in uses_sales)] == ["rp:demo:sales:1"] * 2
    updated = index(writes, "PUT", "/api/admin/segments/11")
    strategy_writes = indexes(writes, "POST", r".*/strategies") + indexes(writes, "PUT", r".*/strategies/.*")
    assert max(created, updated) < min(strategy_writes)
    # strategies are in place before a flag is turned on (else Unleash adds a 100% one)
    turned_on = indexes(writes, "POST", r".*/environments/development/on")
    assert len(turned_on) == 2 and max(strategy_writes) < min(turned_on)
    # the leaving flag is off before its last strategy goes, and stripped before it is archived
    off = index(writes, "POST", FEATURES + "/old/environments/development/off")
    old_strategies = indexes(writes, "DELETE", STRATEGIES.format(flag="old") + "/old-.*")
    archived = index(writes, "DELETE", FEATURES + "/old")
    assert len(old_strategies) == 2 and off < min(old_strategies) and max(old_strategies) < archived
    # segments go last, when no strategy of ours uses them
    assert indexes(writes, "DELETE", r"/api/admin/segments/.*") == [len(writes) - 1]
    assert writes[-1][:2] == ("DELETE", "/api/admin/segments/40")


def test_each_write_says_what_the_plan_asks():
    sync, server = busy(), Unleash()
    execute(sync, admin=admin_for(server), concurrency=1)
    bodies = {(m, p): b for m, p, b in server.writes()}
    assert bodies[("POST", FEATURES)] == {"name": "blog", "description": sync.desired.flags["blog"].description,
                                          "type": "release"}
    assert bodies[("PATCH", FEATURES + "/wiki")] == [
        {"op": "replace", "path": "/description", "value": sync.desired.flags["wiki"].description}]
    assert bodies[("PUT", "/api/admin/segments/11")]["constraints"][0]["values"] == ["HR", "People"]
    updated = bodies[("PUT", STRATEGIES.format(flag="wiki") + "/wiki-1")]
    # everyone, admitted by phase two, sees the wiki that phase one enabled: both phases' segments
    phases = [sync.segment_ids["rp:demo:phase:two"], sync.segment_ids["rp:demo:phase:one"]]
    assert (updated["title"], updated["parameters"]["rollout"], updated["segments"]) == ("rp:demo:all", "100", phases)


def test_progress_counts_every_change_once_up_to_the_total():
    sync, seen = busy(), []
    execute(sync, admin=admin_for(Unleash()), concurrency=1,
            on_progress=lambda done, total, change: seen.append((done, total, change)))
    total = len(sync.diff.changes)
    assert [done for done, _t, _c in seen] == list(range(1, total + 1))
    assert {t for _d, t, _c in seen} == {total}
    assert sorted(map(repr, (c for _d, _t, c in seen))) == sorted(map(repr, sync.diff.changes))
    # reported in the order of the stages
    assert [ORDER.index((c.kind, c.action)) for _d, _t, c in seen] == sorted(
        ORDER.index((c.kind, c.action)) for c in sync.diff.changes)


def test_with_parallel_writes_the_stages_still_follow_each_other():
    sync, server, seen = busy(), Unleash(), []
    sent = execute(sync, admin=admin_for(server), on_progress=lambda done, total, change: seen.append(done))
    stages = [ORDER.index(stage_of(*w)) for w in server.writes()]
    assert stages == sorted(stages)
    assert sent == len(sync.diff.changes) and sorted(seen) == seen == list(range(1, sent + 1))


@pytest.mark.parametrize("status, error", [(400, UnleashRefused), (500, UnleashUnavailable)])
def test_the_first_failing_write_stops_the_run(status, error):
    failing = ("POST", STRATEGIES.format(flag="wiki"))
    sync, server, seen = busy(), Unleash(fail={failing: status}), []
    with pytest.raises(error) as caught:
        execute(sync, admin=admin_for(server), concurrency=1, on_progress=lambda d, t, c: seen.append(d))
    assert (caught.value.method, caught.value.path, caught.value.status) == (*failing, status)
    assert f"refused with {status}" in str(caught.value)
    writes = server.writes()
    assert sum((m, p) == failing for m, p, _b in writes) == 1  # a POST is not retried
    assert index(writes, *failing) == len(writes) - 1  # nothing after it
    sent_stages = {stage_of(*w) for w in writes}
    assert not sent_stages & {("strategy", "update"), ("environment", "enable"), ("environment", "disable"),
                        ("strategy", "delete"), ("flag", "archive"), ("segment", "delete")}
    assert seen == list(range(1, len(writes)))  # every write but the failed one was reported done


def test_a_failing_segment_write_sends_no_strategy():
    server = Unleash(fail={("POST", "/api/admin/segments"): 400})
    with pytest.raises(UnleashRefused, match="POST /api/admin/segments"):
        execute(busy(), admin=admin_for(server))
    assert not [w for w in server.writes() if "/features" in w[1]]


def test_an_archived_flag_of_the_plan_is_revived_then_given_its_strategies_then_turned_on():
    desired = desired_of()
    actual = unleash_as(desired)
    actual.flags["blog"] = flag_state("blog", desired.flags["blog"].description, enabled=False, archived=True)
    server = Unleash()
    sync = SyncPlan(desired, diff(desired, actual, fingerprints(desired)), IDS)
    assert execute(sync, admin=admin_for(server), concurrency=1) == 4
    assert [(m, p) for m, p, _b in server.seen] == [
        ("POST", "/api/admin/projects/default/revive"), ("GET", FEATURES + "/blog"),
        ("POST", STRATEGIES.format(flag="blog")), ("POST", STRATEGIES.format(flag="blog")),
        ("POST", FEATURES + "/blog/environments/development/on")]
    assert server.seen[0][2] == {"features": ["blog"]}
    # hr's segment and the segments of the phases that admitted it and enabled the blog; `all` only its phase's
    assert [b["segments"] for _m, _p, b in server.seen[2:4]] == [[11, 12, 13], [13]]


def without_blog(desired) -> SyncPlan:
    """The sync of `desired` to an Unleash that lists no flag `blog` (archived flags are not read)."""
    actual = unleash_as(desired)
    del actual.flags["blog"]
    return SyncPlan(desired, diff(desired, actual, None), IDS)


IDS = {"rp:demo:hr:1": 11, "rp:demo:phase:one": 12, "rp:demo:phase:two": 13}  # as unleash_as numbers them


def test_a_flag_create_that_finds_its_own_flag_archived_revives_it():
    desired = desired_of()
    description = desired.flags["blog"].description
    server = Unleash(fail={("POST", FEATURES): 409}, archived=[{"name": "blog", "description": description}])
    sync = without_blog(desired)
    execute(sync, admin=admin_for(server), concurrency=1)
    writes = [(m, p) for m, p, _b in server.writes()]
    assert writes[:3] == [("POST", FEATURES), ("POST", "/api/admin/projects/default/revive"),
                          ("PATCH", FEATURES + "/blog")]
    assert writes[-1] == ("POST", FEATURES + "/blog/environments/development/on")


def test_a_flag_create_that_finds_someone_elses_flag_stops_with_advice():
    desired = desired_of()
    server = Unleash(fail={("POST", FEATURES): 409}, archived=[{"name": "blog", "description": "by hand"}])
    sync = without_blog(desired)
    with pytest.raises(DesiredStateError, match="flag 'blog' already exists in Unleash and is not this plan's"):
        execute(sync, admin=admin_for(server), concurrency=1)
    assert [(m, p) for m, p, _b in server.writes()] == [("POST", FEATURES)]


def test_nothing_to_change_sends_nothing():
    desired = desired_of()
    server = Unleash()
    ids = {s["name"]: s["id"] for s in unleash_as(desired).segments}
    sync = SyncPlan(desired, diff(desired, unleash_as(desired), fingerprints(desired)), ids)
    assert execute(sync, admin=admin_for(server), on_progress=lambda *a: pytest.fail("no progress expected")) == 0
    assert server.seen == []
