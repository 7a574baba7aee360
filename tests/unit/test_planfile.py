"""Export gives back a file that applies to the same plan."""

from planner.planfile import dump_plan, load_plan
from tests.plans import demo_plan


def test_export_round_trips_to_an_equal_plan_and_keeps_the_offsets():
    plan = demo_plan()
    text = dump_plan(plan)
    assert load_plan(text) == plan
    assert "2026-11-02T08:00:00+01:00" in text


def test_large_user_lists_round_trip():
    text = dump_plan(demo_plan()).replace("users: [u-100, u-101, u-102]",
                                          "users: [" + ", ".join(f"u-{i}" for i in range(5000)) + "]")
    plan = load_plan(text)
    assert len(plan.cohort("champions").users) == 5000
    assert load_plan(dump_plan(plan)) == plan
