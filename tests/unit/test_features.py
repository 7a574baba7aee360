"""What "My features" tells one user: what they have, what is coming, and what waits for a phase's gate."""

from datetime import UTC, datetime

from planner.features import user_features
from planner.membership import User
from tests.plans import demo_plan, gates_passed

HR = User("u-hr", {"department": "HR"})


def lines(now: str, controls=None) -> dict:
    plan = demo_plan()
    found = user_features(plan, HR, now=datetime.fromisoformat(now), members={}, controls=controls)
    return {line.name: line for line in found}


def test_what_a_shut_gate_holds_back_is_coming_once_the_gate_opens():
    got = lines("2026-12-02T12:00+01:00")  # Wave 1 (HR) starts on 7 December, behind its gate
    blog = got["Microblog"]
    assert blog.since == datetime(2026, 12, 7, 7, tzinfo=UTC) and not blog.planned_now
    assert blog.waits_for == ("Wave 1",) and not blog.gate_late and blog.gate_words == "Wave 1's gate"
    assert blog.reasons[0] == "cohort “HR”, phase “Wave 1”"  # names, not keys
    # the Everyone phase gives the microblog too, but Wave 1 enables it: that way waits for the gate as well
    assert blog.reasons[1] == ("from 01 Feb 2027: cohort “Everyone”, admitted by phase “Everyone”, "
                               "feature enabled by phase “Wave 1”, once Wave 1's gate opens")
    communities = got["Communities"]  # comes with Everyone, gate or not: the gate is not mentioned
    assert communities.waits_for == () and communities.reasons == ["cohort “Everyone”, phase “Everyone”"]


def test_a_gate_still_shut_after_its_date_is_said_to_be_late_and_gives_nothing():
    blog = lines("2026-12-10T12:00+01:00")["Microblog"]
    assert blog.gate_late and not blog.planned_now and blog.waits_for == ("Wave 1",)


def test_once_the_gate_passed_nothing_waits():
    plan = demo_plan()
    blog = lines("2026-12-10T12:00+01:00", controls=gates_passed(plan))["Microblog"]
    assert blog.planned_now and blog.waits_for == () and blog.reasons == ["cohort “HR”, phase “Wave 1”"]
