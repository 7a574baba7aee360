"""Where a plan stands on the plans list: the phase running by its name, and what comes next."""

from datetime import datetime

from planner.milestones import standing
from tests.plans import demo_plan, gates_passed


def test_the_running_phase_by_name_and_a_gated_phase_as_the_next_milestone():
    plan = demo_plan()  # Pilot 2 Nov, Wave 1 7 Dec behind its gate, its training 8 Dec, Everyone 1 Feb
    now = datetime.fromisoformat("2026-12-02T12:00+01:00")
    shut = standing(plan, now=now)
    assert shut.status == "running" and shut.current == "Pilot"
    assert shut.next.label == "Wave 1 starts, once its gate opens"
    assert shut.next.at == datetime.fromisoformat("2026-12-07T08:00+01:00")
    opened = standing(plan, now=now, controls=gates_passed(plan))
    assert opened.next.label == "Wave 1 starts" and opened.next.at == shut.next.at
    later = standing(plan, now=datetime.fromisoformat("2026-12-08T12:00+01:00"))  # the gate still shut
    assert later.current == "Pilot" and later.next.label == "training: Microblog etiquette"
