"""The desired Unleash state: pure, within the server's limits."""

import pytest

from flags.desired import DesiredStateError, desired_state, starts_constraint
from flags.limits import ResourceLimits
from planner.model import Cohort, CohortKind
from tests.plans import demo_plan


def test_one_strategy_per_cohort_and_feature_with_the_access_start():
    state = desired_state(demo_plan())
    hr_wiki = state.strategies[("wiki", "rp:intranet-rollout:hr:1")]
    assert hr_wiki.constraints == (starts_constraint(demo_plan().phases[1].starts),)
    assert hr_wiki.constraints[0]["value"] == "2026-12-07T06:59:59.999Z"
    assert hr_wiki.segment == "rp:intranet-rollout:hr:1"
    everyone = state.strategies[("communities", "rp:intranet-rollout:all")]
    assert everyone.segment is None and everyone.rollout == 100
    quarter = state.strategies[("wiki", "rp:intranet-rollout:sales-quarter:1")]
    assert quarter.rollout == 25 and quarter.group_id == "intranet-rollout.sales-quarter"
    # the same groupId on every flag: the same quarter of Sales gets every feature
    assert {s.group_id for s in state.strategies.values() if "sales-quarter" in s.title} == {"intranet-rollout.sales-quarter"}


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
