"""The diff between the plan's Unleash state and the server's: what a sync would write, and why."""

from __future__ import annotations

import copy

import pytest

from flags.admin import FlagState, ProjectState, normalise_strategy
from flags.desired import desired_state
from flags.diff import diff, fingerprints, normal_constraint
from flags.limits import ResourceLimits
from planner.validation import parse_plan

MARKER = "[managed by rollout planner: demo]"


def hr(*values: str) -> dict:
    return {"key": "hr", "kind": "attribute",
            "rules": [{"property": "department", "operator": "IN", "values": list(values)}]}


PLAN = {
    "plan": "demo",
    "unleash": {"project": "default", "environment": "development"},
    "features": [{"key": "wiki", "name": "Wiki"}, {"key": "blog", "name": "Blog"}],
    "cohorts": [hr("HR", "People"), {"key": "all", "kind": "everyone"}],
    "phases": [
        {"key": "one", "starts": "2026-11-02T08:00:00+01:00", "cohorts": ["hr"], "features": ["wiki"]},
        {"key": "two", "starts": "2027-01-04T08:00:00+01:00", "cohorts": ["all"], "features": ["blog"]},
    ],
}


def desired_of(members: dict[str, list[str]] | None = None, **changes):
    """The desired state of the demo plan, with top-level plan fields replaced by `changes`."""
    plan = parse_plan({**copy.deepcopy(PLAN), **changes})
    return desired_state(plan, members=members or {}, limits=ResourceLimits())


def served(c: dict) -> dict:
    """A constraint as Unleash hands it back: defaults added, false flags dropped, values in its order."""
    shown = {k: v for k, v in c.items() if v is not False}
    if "values" in shown:
        return {"value": "", **shown, "values": list(reversed(shown["values"]))}
    return {"values": [], **shown}


def unleash_as(desired) -> ProjectState:
    """What `read_project_state` returns for a server on which `desired` was written (segment ids from 11)."""
    ids = {name: 11 + i for i, name in enumerate(desired.segments)}
    segments = [{"id": ids[name], **s.body(desired.project), "constraints": [served(c) for c in s.constraints],
                 "usedInFeatures": 2} for name, s in desired.segments.items()]
    flags = {}
    for name, spec in desired.flags.items():
        strategies = [normalise_strategy({**s.body(ids), "id": f"{name}-{n}", "sortOrder": n,
                                          "constraints": [served(c) for c in s.constraints]})
                      for n, s in enumerate(s for (f, _t), s in desired.strategies.items() if f == name)]
        flags[name] = FlagState(name, spec.description, "release", spec.enabled, strategies)
    return ProjectState(desired.project, desired.environment, flags, segments)


def changes(result) -> list[tuple[str, str, str]]:
    return [(c.kind, c.action, c.name) for c in result.changes]


def only(result):
    assert len(result.changes) == 1, changes(result)
    return result.changes[0]


def strategy(state: ProjectState, flag: str, title: str) -> dict:
    return next(s for s in state.flags[flag].strategies if s["title"] == title)


def segment(state: ProjectState, name: str) -> dict:
    return next(s for s in state.segments if s["name"] == name)


def flag_state(name: str, description: str, **kwargs) -> FlagState:
    """A flag as Unleash lists it; enabled unless said otherwise."""
    return FlagState(name, description, "release", kwargs.pop("enabled", True), **kwargs)


# -- empty and matching -----------------------------------------------------------------------


def test_an_empty_unleash_gets_every_segment_flag_and_strategy_and_the_flags_turned_on():
    result = diff(desired_of(), ProjectState("default", "development", {}, []))
    assert changes(result) == [
        ("segment", "create", "rp:demo:hr:1"), ("segment", "create", "rp:demo:phase:one"),
        ("segment", "create", "rp:demo:phase:two"),
        ("flag", "create", "wiki"), ("strategy", "create", "rp:demo:hr:1"), ("strategy", "create", "rp:demo:all"),
        ("environment", "enable", "wiki"),
        ("flag", "create", "blog"), ("strategy", "create", "rp:demo:hr:1"), ("strategy", "create", "rp:demo:all"),
        ("environment", "enable", "blog"),
    ]
    assert [c.describe() for c in result.changes[2:5]] == [
        "create segment 'rp:demo:phase:two'", "create flag 'wiki'", "create strategy 'rp:demo:hr:1' on flag 'wiki'"]
    assert result.changes[6].describe() == "turn on flag 'wiki' in development"
    assert result.counts() == {"created": 9, "updated": 2, "deleted": 0, "unchanged": 0, "drift": 0}
    assert not result.not_owned and not result.conflicts


def test_an_unleash_that_matches_the_plan_needs_no_write():
    desired = desired_of()
    result = diff(desired, unleash_as(desired), fingerprints(desired))
    assert result.empty
    # one cohort segment and two phase segments; per flag its description, its environment and two strategies
    assert result.counts() == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 11, "drift": 0}


def test_constraints_compare_whatever_order_and_defaults_the_server_adds():
    listed = {"contextName": "department", "operator": "IN", "values": ["HR", "People"],
              "inverted": False, "caseInsensitive": False}
    assert normal_constraint(listed) == normal_constraint(
        {"contextName": "department", "operator": "IN", "values": ["People", "HR"], "value": ""})
    date = {"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2026-11-02T06:59:59.999Z"}
    assert normal_constraint(date) == normal_constraint({**date, "values": [], "inverted": False})
    assert normal_constraint(date) == normal_constraint(
        {"contextName": "currentTime", "operator": "DATE_AFTER", "values": ["2026-11-02T06:59:59.999Z"]})
    for changed in ({"values": ["HR"]}, {"inverted": True}, {"caseInsensitive": True}, {"operator": "NOT_IN"}):
        assert normal_constraint(listed) != normal_constraint({**listed, **changed}), changed
    assert normal_constraint(date) != normal_constraint({**date, "value": "2026-11-03T06:59:59.999Z"})


# -- drift: hand edits against the last sync's fingerprints ----------------------------------


def edit_segment(state):
    segment(state, "rp:demo:hr:1")["constraints"][0]["values"].append("Sales")


def edit_strategy(state):
    strategy(state, "wiki", "rp:demo:hr:1")["parameters"]["rollout"] = "50"


def edit_description(state):
    state.flags["wiki"].description = f"Our wiki\n\n{MARKER}"


def turn_off(state):
    state.flags["wiki"].enabled = False


def drop_segment(state):
    state.segments.remove(segment(state, "rp:demo:hr:1"))


def drop_strategy(state):
    state.flags["wiki"].strategies.remove(strategy(state, "wiki", "rp:demo:hr:1"))


@pytest.mark.parametrize("edit, expected", [
    (edit_segment, ("segment", "update", "rp:demo:hr:1", None, 11)),
    (edit_strategy, ("strategy", "update", "rp:demo:hr:1", "wiki", "wiki-0")),
    (edit_description, ("flag", "update", "wiki", "wiki", None)),
    (turn_off, ("environment", "enable", "wiki", "wiki", None)),
    (drop_segment, ("segment", "create", "rp:demo:hr:1", None, None)),
    (drop_strategy, ("strategy", "create", "rp:demo:hr:1", "wiki", None)),
])
def test_an_owned_object_changed_by_hand_is_restored_as_drift(edit, expected):
    desired = desired_of()
    actual = unleash_as(desired)
    edit(actual)
    result = diff(desired, actual, fingerprints(desired))
    change = next(c for c in result.changes if (c.kind, c.action, c.name, c.flag, c.actual_id) == expected)
    assert change.drift
    assert change.describe().endswith("(drift: changed in Unleash by hand; restoring the plan)")
    assert result.counts()["drift"] >= 1
    # the same state without a record of the last sync is an ordinary change
    assert not any(c.drift for c in diff(desired, actual, None).changes)


def plan_change(before, after):
    """The diff to `after` while Unleash still holds what the last sync of `before` wrote."""
    return diff(after, unleash_as(before), fingerprints(before))


def test_plan_edits_are_updates_without_drift():
    before = desired_of()
    segment_edit = only(plan_change(before, desired_of(cohorts=[hr("HR"), {"key": "all", "kind": "everyone"}])))
    assert (segment_edit.kind, segment_edit.action, segment_edit.drift) == ("segment", "update", False)
    renamed = desired_of(features=[{"key": "wiki", "name": "Knowledge base"}, {"key": "blog", "name": "Blog"}])
    flag_edit = only(plan_change(before, renamed))
    assert (flag_edit.kind, flag_edit.action, flag_edit.name, flag_edit.drift) == ("flag", "update", "wiki", False)
    assert flag_edit.describe() == "update flag 'wiki'"
    half = desired_of(cohorts=[{**hr("HR", "People"), "percentage": 50}, {"key": "all", "kind": "everyone"}])
    result = plan_change(before, half)
    assert changes(result) == [("strategy", "update", "rp:demo:hr:1")] * 2
    assert [c.flag for c in result.changes] == ["wiki", "blog"]
    assert not any(c.drift for c in result.changes)
    assert result.changes[0].describe() == "update strategy 'rp:demo:hr:1' on flag 'wiki'"


def test_a_member_who_opts_in_updates_the_segment_without_drift():
    cohorts = [hr("HR", "People"), {"key": "all", "kind": "everyone"}, {"key": "pilot", "kind": "opt_in"}]
    phases = copy.deepcopy(PLAN["phases"])
    phases[0]["cohorts"].append("pilot")
    before = desired_of(members={"pilot": ["u-1"]}, cohorts=cohorts, phases=phases)
    after = desired_of(members={"pilot": ["u-1", "u-2"]}, cohorts=cohorts, phases=phases)
    change = only(plan_change(before, after))
    assert (change.kind, change.action, change.name, change.drift) == ("segment", "update", "rp:demo:pilot:1", False)


def test_a_plan_that_changes_a_flags_description_and_state_at_once_is_not_drift():
    before = desired_of()
    # blog is renamed and no phase enables it any more: a new description and turned off, both by the plan
    after = desired_of(features=[{"key": "wiki", "name": "Wiki"}, {"key": "blog", "name": "Weblog"}],
                       phases=[PLAN["phases"][0], {**PLAN["phases"][1], "features": []}])
    result = plan_change(before, after)
    blog = [c for c in result.changes if c.flag == "blog" and c.kind in ("flag", "environment")]
    assert [(c.kind, c.action) for c in blog] == [("flag", "update"), ("environment", "disable")]
    assert not any(c.drift for c in result.changes)


# -- what the plan does not own -----------------------------------------------------------


def test_strategies_without_the_plans_title_are_reported_and_left_alone():
    desired = desired_of()
    actual = unleash_as(desired)
    actual.flags["wiki"].strategies += [
        normalise_strategy({"id": "x1", "name": "default", "title": "", "parameters": {}}),
        normalise_strategy({"id": "x2", "name": "flexibleRollout", "title": "beta testers",
                            "parameters": {"rollout": "10"}}),
        normalise_strategy({"id": "x3", "name": "default", "title": "rp:other:hr:1"}),
    ]
    result = diff(desired, actual, fingerprints(desired))
    assert result.empty
    assert result.not_owned == ["strategy 'default' on flag 'wiki' (id x1)",
                                "strategy 'beta testers' on flag 'wiki' (id x2)",
                                "strategy 'rp:other:hr:1' on flag 'wiki' (id x3)"]


@pytest.mark.parametrize("archived, where", [(False, "in Unleash"), (True, "in the archive")])
def test_a_flag_of_the_same_name_made_by_someone_else_is_a_conflict_not_a_change(archived, where):
    desired = desired_of()
    actual = unleash_as(desired)
    actual.flags["wiki"] = flag_state("wiki", "Somebody's wiki", archived=archived, enabled=False,
                                        strategies=[normalise_strategy({"id": "w1", "name": "default"})])
    result = diff(desired, actual, fingerprints(desired))
    assert result.conflicts == [f"flag 'wiki' exists {where} but was not made by plan 'demo'; left alone "
                                "(rename the feature, or delete that flag)"]
    assert result.empty  # nothing on that flag, and the rest already matches
    actual.flags["wiki"] = flag_state("wiki", "Wiki\n\n[managed by rollout planner: demo-2]")
    assert [c.split(";")[0] for c in diff(desired, actual, None).conflicts] == [
        "flag 'wiki' exists in Unleash but was not made by plan 'demo'"]


def test_segments_and_flags_of_other_plans_and_people_are_untouched():
    desired = desired_of()
    actual = unleash_as(desired)
    actual.segments += [
        {"id": 90, "name": "rp:other:hr:1", "description": "", "constraints": [], "usedInFeatures": 1},
        {"id": 91, "name": "rp:demo-2:hr:1", "description": "", "constraints": [], "usedInFeatures": 0},
        {"id": 92, "name": "beta testers", "description": "", "constraints": [], "usedInFeatures": 0},
    ]
    actual.flags["legacy"] = flag_state("legacy", "Made by hand")
    actual.flags["their-wiki"] = flag_state("their-wiki", "[managed by rollout planner: other]")
    result = diff(desired, actual, fingerprints(desired))
    assert result.empty and not result.conflicts


# -- every kind of change -----------------------------------------------------------------


def test_segments_that_left_the_plan_or_are_doubled_are_deleted():
    desired = desired_of()
    actual = unleash_as(desired)
    actual.segments += [
        {"id": 40, "name": "rp:demo:hr:1", "description": "copy", "constraints": [], "usedInFeatures": 0},
        {"id": 41, "name": "rp:demo:sales:1", "description": "", "constraints": [], "usedInFeatures": 0},
    ]
    result = diff(desired, actual, fingerprints(desired))
    assert [(c.kind, c.action, c.name, c.actual_id, c.why) for c in result.changes] == [
        ("segment", "delete", "rp:demo:hr:1", 40, "duplicate"),
        ("segment", "delete", "rp:demo:sales:1", 41, "no longer in the plan"),
    ]
    assert result.changes[1].describe() == "delete segment 'rp:demo:sales:1' (no longer in the plan)"
    assert result.counts() == {"created": 0, "updated": 0, "deleted": 2, "unchanged": 11, "drift": 0}


def test_a_strategy_on_a_doubled_segment_moves_to_the_one_kept():
    desired = desired_of()
    actual = unleash_as(desired)
    doubled = segment(actual, "rp:demo:hr:1")
    actual.segments.append({**doubled, "id": 40})
    used = strategy(actual, "wiki", "rp:demo:hr:1")
    used["segments"] = [40 if i == doubled["id"] else i for i in used["segments"]]
    result = diff(desired, actual, fingerprints(desired))
    assert ("strategy", "update", "rp:demo:hr:1") in changes(result)


def test_strategies_that_left_the_plan_or_are_doubled_are_deleted():
    desired = desired_of()
    actual = unleash_as(desired)
    kept = strategy(actual, "wiki", "rp:demo:hr:1")
    actual.flags["wiki"].strategies += [{**kept, "id": "dup"}, {**kept, "id": "old", "title": "rp:demo:sales:1"}]
    result = diff(desired, actual, fingerprints(desired))
    assert [(c.kind, c.action, c.name, c.flag, c.actual_id, c.why) for c in result.changes] == [
        ("strategy", "delete", "rp:demo:hr:1", "wiki", "dup", "duplicate"),
        ("strategy", "delete", "rp:demo:sales:1", "wiki", "old", "no longer in the plan"),
    ]
    assert result.changes[0].describe() == "delete strategy 'rp:demo:hr:1' on flag 'wiki' (duplicate)"


def test_a_feature_that_left_the_plan_is_turned_off_stripped_and_archived():
    before = desired_of()
    actual = unleash_as(before)
    actual.flags["blog"].strategies.append(normalise_strategy({"id": "mine", "name": "default", "title": "by hand"}))
    after = desired_of(features=[{"key": "wiki", "name": "Wiki"}],
                       phases=[PLAN["phases"][0], {**PLAN["phases"][1], "features": []}])
    result = diff(after, actual, fingerprints(before))
    assert [(c.kind, c.action, c.name, c.actual_id) for c in result.changes] == [
        ("environment", "disable", "blog", None),
        ("strategy", "delete", "rp:demo:hr:1", "blog-0"),
        ("strategy", "delete", "rp:demo:all", "blog-1"),
        ("flag", "archive", "blog", None),
    ]
    assert [c.describe() for c in result.changes] == [
        "turn off flag 'blog' in development",
        "delete strategy 'rp:demo:hr:1' on flag 'blog' (its flag leaves the plan)",
        "delete strategy 'rp:demo:all' on flag 'blog' (its flag leaves the plan)",
        "archive flag 'blog' (no longer in the plan)",
    ]
    assert result.counts() == {"created": 0, "updated": 1, "deleted": 3, "unchanged": 7, "drift": 0}
    # once archived it stays so: nothing more to do
    actual.flags["blog"] = flag_state("blog", actual.flags["blog"].description, enabled=False, archived=True)
    assert diff(after, actual, fingerprints(after)).empty


def test_an_archived_flag_back_in_the_plan_is_revived_with_its_strategies():
    desired = desired_of()
    actual = unleash_as(desired)
    actual.flags["blog"] = flag_state("blog", desired.flags["blog"].description, enabled=False, archived=True)
    result = diff(desired, actual, None)
    assert changes(result) == [("flag", "revive", "blog"), ("strategy", "create", "rp:demo:hr:1"),
                               ("strategy", "create", "rp:demo:all"), ("environment", "enable", "blog")]
    assert result.changes[0].describe() == "revive flag 'blog' (back in the plan)"
    assert [c.spec for c in result.changes[1:3]] == [desired.strategies[("blog", "rp:demo:hr:1")],
                                                    desired.strategies[("blog", "rp:demo:all")]]


def test_a_feature_no_phase_enables_keeps_its_flag_turned_off_without_strategies():
    before = desired_of()
    after = desired_of(phases=[PLAN["phases"][0], {**PLAN["phases"][1], "features": []}])
    assert after.flags["blog"].enabled is False
    result = plan_change(before, after)
    assert changes(result) == [("strategy", "delete", "rp:demo:hr:1"), ("strategy", "delete", "rp:demo:all"),
                               ("environment", "disable", "blog")]
    assert {c.flag for c in result.changes} == {"blog"} and not any(c.drift for c in result.changes)
    assert result.changes[2].describe() == "turn off flag 'blog' in development"


def test_counts_sum_a_mixed_diff():
    before = desired_of()
    actual = unleash_as(before)
    edit_strategy(actual)  # drift on wiki
    actual.segments.append({"id": 41, "name": "rp:demo:sales:1", "description": "", "constraints": []})
    after = desired_of(features=[{"key": "wiki", "name": "Wiki"}, {"key": "blog", "name": "Blog"},
                                 {"key": "forum", "name": "Forum"}],
                       phases=[PLAN["phases"][0], {**PLAN["phases"][1], "features": ["blog", "forum"]}])
    result = diff(after, actual, fingerprints(before))
    assert changes(result) == [
        ("strategy", "update", "rp:demo:hr:1"),
        ("flag", "create", "forum"), ("strategy", "create", "rp:demo:hr:1"), ("strategy", "create", "rp:demo:all"),
        ("environment", "enable", "forum"),
        ("segment", "delete", "rp:demo:sales:1"),
    ]
    assert result.counts() == {"created": 3, "updated": 2, "deleted": 1, "unchanged": 10, "drift": 1}
    assert [c.as_dict()["text"] for c in result.changes if c.drift] == [
        "update strategy 'rp:demo:hr:1' on flag 'wiki' (drift: changed in Unleash by hand; restoring the plan)"]
