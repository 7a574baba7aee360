"""The desired Unleash state: pure, within the server's limits."""

import pytest

from datetime import datetime

from flags.desired import NEVER, DesiredStateError, desired_state, starts_constraint
from flags.limits import ResourceLimits
from planner.lifecycle import Action, apply
from planner.model import Cohort, CohortKind
from tests.plans import demo_plan, gates_passed

P = "rp:intranet-rollout"


def test_a_gated_phase_is_written_shut_until_its_gate_passes():
    wave = desired_state(demo_plan()).segments[f"{P}:phase:wave-1"]
    assert wave.constraints == (NEVER,) and "Waits for its gate (blog-posts, satisfaction)" in wave.description


def test_one_segment_per_phase_carries_its_start_and_each_strategy_the_phases_it_comes_from():
    state = desired_state(demo_plan(), controls=gates_passed(demo_plan()))
    wave = state.segments[f"{P}:phase:wave-1"]
    assert wave.constraints == (starts_constraint(demo_plan().phases[1].starts),)
    assert wave.constraints[0]["value"] == "2026-12-07T06:59:59.999Z"
    assert "phase 'Wave 1'" in wave.description and "Starts 2026-12-07 07:00 UTC" in wave.description
    hr_wiki = state.strategies[("wiki", f"{P}:hr:1")]
    # admitted by Wave 1, the wiki enabled by the pilot: access starts at the later of the two
    assert hr_wiki.segments == (f"{P}:hr:1", f"{P}:phase:wave-1", f"{P}:phase:pilot")
    assert hr_wiki.constraints == ()
    pilot_wiki = state.strategies[("wiki", f"{P}:champions:1")]
    assert pilot_wiki.segments == (f"{P}:champions:1", f"{P}:phase:pilot")  # one phase did both: one segment
    everyone = state.strategies[("communities", f"{P}:all")]
    assert everyone.segments == (f"{P}:phase:general",) and everyone.rollout == 100
    quarter = state.strategies[("wiki", "rp:intranet-rollout:sales-quarter:1")]
    assert quarter.rollout == 25 and quarter.group_id == "intranet-rollout.sales-quarter"
    # the same groupId on every flag: the same quarter of Sales gets every feature
    assert {s.group_id for s in state.strategies.values() if "sales-quarter" in s.title} == {"intranet-rollout.sales-quarter"}


def test_holding_or_rolling_back_a_phase_changes_its_segment_and_nothing_else():
    plan = demo_plan()
    state = desired_state(plan)
    held = desired_state(plan, controls=apply(plan, {}, Action.hold, "wave-1", at=datetime.fromisoformat(
        "2026-12-01T08:00:00+01:00"), actor="lead", reason="the works council asked to wait"))
    assert held.strategies == state.strategies and held.flags == state.flags
    changed = {name for name in state.segments if state.segments[name] != held.segments[name]}
    assert changed == {f"{P}:phase:wave-1", f"{P}:phase:general"}  # Wave 1 and the phase after it
    assert held.segments[f"{P}:phase:wave-1"].constraints == (NEVER,)
    assert "Held by lead on 2026-12-01 07:00 UTC: the works council asked to wait" in \
        held.segments[f"{P}:phase:wave-1"].description
    assert "Wave 1 is held" in held.segments[f"{P}:phase:general"].description


def test_a_held_active_phase_keeps_its_start():
    plan = demo_plan()
    controls = apply(plan, {}, Action.hold, "pilot", at=datetime.fromisoformat("2026-11-20T08:00:00+01:00"),
                     actor="lead", reason="feedback first")
    state = desired_state(plan, controls=controls)
    assert state.segments[f"{P}:phase:pilot"].constraints == desired_state(plan).segments[f"{P}:phase:pilot"].constraints
    assert state.segments[f"{P}:phase:wave-1"].constraints == (NEVER,)


def test_a_cohort_may_not_be_called_phase():
    import pytest as _pytest

    from planner.errors import PlanInvalid
    from planner.validation import parse_plan

    with _pytest.raises(PlanInvalid, match=r"cohorts\[0\].key: 'phase' is reserved"):
        parse_plan({"plan": "p", "cohorts": [{"key": "phase", "kind": "everyone"}]})


def test_every_feature_has_a_flag_marked_as_the_plans_own():
    state = desired_state(demo_plan())
    assert set(state.flags) == {"innovation-blog", "wiki", "microblog", "communities"}
    assert all(state.marker in f.description and f.enabled for f in state.flags.values())


def test_a_5000_user_list_is_split_into_segments_within_the_limits():
    plan = demo_plan()
    big = Cohort(key="champions", kind=CohortKind.list, users=tuple(f"user-{i:05d}" for i in range(5000)))
    plan = plan.model_copy(update={"cohorts": tuple(big if c.key == "champions" else c for c in plan.cohorts)})
    limits = ResourceLimits()
    state = desired_state(plan, limits=limits)
    parts = [s for name, s in state.segments.items() if ":champions:" in name]
    assert len(parts) == 20
    assert all(len(s.constraints[0]["values"]) <= limits.constraint_values for s in parts)
    assert sorted(v for s in parts for v in s.constraints[0]["values"]) == sorted(big.users)
    for flag in state.flags:
        assert sum(1 for (f, _t) in state.strategies if f == flag) <= limits.feature_environment_strategies


def test_a_plan_beyond_the_strategy_limit_is_refused_with_advice():
    plan = demo_plan()
    big = Cohort(key="champions", kind=CohortKind.list, users=tuple(f"u{i}" for i in range(8000)))
    plan = plan.model_copy(update={"cohorts": tuple(big if c.key == "champions" else c for c in plan.cohorts)})
    with pytest.raises(DesiredStateError, match="feature 'innovation-blog' needs 35 strategies"):
        desired_state(plan, limits=ResourceLimits())
    assert desired_state(plan, limits=ResourceLimits(constraint_values=1000))  # a server with raised limits takes it


def test_opt_in_members_become_the_segment_and_an_empty_cohort_gets_no_strategy():
    plan = demo_plan()
    empty = desired_state(plan)
    assert "rp:intranet-rollout:pilot:1" not in empty.segments
    assert not [t for (_f, t) in empty.strategies if ":pilot" in t]
    state = desired_state(plan, members={"pilot": ["u-2", "u-1"]})
    assert state.segments["rp:intranet-rollout:pilot:1"].constraints[0]["values"] == ["u-1", "u-2"]


RAMPED = {"plan": "r", "features": [{"key": "wiki"}],
          "cohorts": [{"key": "all", "kind": "everyone"},
                      {"key": "hr", "kind": "attribute", "percentage": 50,
                       "rules": [{"property": "department", "operator": "IN", "values": ["HR"]}]}],
          "phases": [{"key": "p", "starts": "2030-01-01T08:00:00+00:00", "cohorts": ["all", "hr"], "features": ["wiki"],
                      "ramps": [{"cohort": "all", "steps": [{"percent": 10}, {"percent": 50, "after": "3d"},
                                                            {"percent": 100, "after": "1w"}]},
                                {"cohort": "hr", "steps": [{"percent": 20}, {"percent": 100, "after": "2d"}]}]}]}


def test_a_ramp_is_one_strategy_per_step_each_with_its_own_time_segment_and_the_same_group():
    from planner.validation import parse_plan

    state = desired_state(parse_plan(RAMPED))
    everyone = {t: (s.rollout, s.segments, s.group_id) for (f, t), s in state.strategies.items() if ":all" in t}
    assert everyone == {"rp:r:all": (10, ("rp:r:phase:p",), "r.all"),
                        "rp:r:all:step-2": (50, ("rp:r:phase:p:all:step-2",), "r.all"),
                        "rp:r:all:step-3": (100, ("rp:r:phase:p:all:step-3",), "r.all")}
    assert state.segments["rp:r:phase:p:all:step-2"].constraints[0]["value"] == "2030-01-04T07:59:59.999Z"
    # a cohort's own percentage scales its ramp: 20 % and then 100 % of the 50 % of HR
    assert state.strategies[("wiki", "rp:r:hr:1")].rollout == 10
    assert state.strategies[("wiki", "rp:r:hr:1:step-2")].rollout == 50


def test_a_phase_held_mid_ramp_keeps_the_steps_it_reached_and_no_later_one():
    from planner.validation import parse_plan

    plan = parse_plan(RAMPED)
    controls = apply(plan, {}, Action.hold, "p", at=datetime.fromisoformat("2030-01-05T08:00:00+00:00"), actor="lead",
                     reason="feedback first")
    state = desired_state(plan, controls=controls)
    assert state.segments["rp:r:phase:p:all:step-2"].constraints == desired_state(plan).segments[
        "rp:r:phase:p:all:step-2"].constraints  # reached on 4 January: stays
    assert state.segments["rp:r:phase:p:all:step-3"].constraints == (NEVER,)  # 8 January: does not come


def test_ramps_are_refused_with_what_to_change():
    import copy

    import pytest as _pytest

    from planner.errors import PlanInvalid
    from planner.validation import parse_plan

    doc = copy.deepcopy(RAMPED)
    doc["phases"][0]["ramps"] = [{"cohort": "sales", "steps": [{"percent": 50, "after": "2d"}, {"percent": 40,
                                                                                               "after": "soon"}]}]
    with _pytest.raises(PlanInvalid) as caught:
        parse_plan(doc)
    text = str(caught.value)
    assert "ramps[0].cohort: 'sales' is not a cohort this phase admits" in text
    assert "ramps[0].steps[0].after: a ramp begins at the phase's start" in text
    assert "ramps[0].steps[1].after: 'soon' must be a delay such as 12h, 3d or 2w" in text
    assert "ramps[0].steps[1].percent: must be more than the step before (50)" in text


def test_a_server_allowing_fewer_segments_per_strategy_is_told_before_anything_is_written():
    with pytest.raises(DesiredStateError, match="the server allows 2 segments per strategy; the planner needs 3"):
        desired_state(demo_plan(), limits=ResourceLimits(strategy_segments=2))
