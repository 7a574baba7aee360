"""The plan page's timeline: what the SVG shows, read back with an XML parser."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

from planner.lifecycle import PhaseStatus
from planner.model import Phase, Plan, Training
from tests.plans import demo_plan
from web.timeline import render_timeline

SVG = "{http://www.w3.org/2000/svg}"
TODAY = datetime(2026, 11, 27, 12, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def parse(plan, today=TODAY, **kwargs) -> ET.Element:
    return ET.fromstring(str(render_timeline(plan, today=today, **kwargs)))


def having(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if cls in el.get("class", "").split()]


def bars(root: ET.Element) -> dict[str, ET.Element]:
    return {bar.get("data-phase"): bar for bar in having(root, "tl-bar")}


def title(el: ET.Element) -> str:
    return el.find(f"{SVG}title").text


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def view_height(root: ET.Element) -> float:
    return float(root.get("viewBox").split()[3])


def with_phase(plan: Plan, key: str, **changes) -> Plan:
    phases = tuple(p.model_copy(update=changes) if p.key == key else p for p in plan.phases)
    return plan.model_copy(update={"phases": phases})


def many_phases(n: int) -> Plan:
    start = datetime(2026, 9, 7, 8, tzinfo=CET)
    return Plan(plan="big", title="Big rollout", phases=tuple(
        Phase(key=f"p{i:02d}", name=f"Wave {i:02d}", starts=start + timedelta(weeks=2 * i)) for i in range(n)))


def test_demo_plan_is_an_accessible_scalable_svg_with_one_bar_per_phase():
    root = parse(demo_plan())
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("viewBox").startswith("0 0 960 ")
    labelled = {el.get("id"): el for el in root if el.get("id")}
    first, second = root.get("aria-labelledby").split()
    assert labelled[first].tag == f"{SVG}title" and "Social intranet rollout" in labelled[first].text
    assert labelled[second].tag == f"{SVG}desc"
    assert "3 phases from 2 Nov 2026 to 1 Feb 2027" in labelled[second].text
    assert list(bars(root)) == ["pilot", "wave-1", "general"]


def test_rows_are_labelled_with_name_and_start_date_and_axis_has_months():
    root = parse(demo_plan())
    assert [text_of(t) for t in having(root, "tl-label")] == ["Pilot", "Wave 1", "Everyone"]
    assert [text_of(t) for t in having(root, "tl-date")] == ["2 Nov 2026", "7 Dec 2026", "1 Feb 2027"]
    assert {"Nov 2026", "Dec 2026", "Jan 2027", "Feb 2027"} <= {text_of(t) for t in having(root, "tl-axis")}


def test_a_bar_without_end_runs_to_the_next_start_and_the_last_for_four_weeks():
    b = bars(parse(demo_plan()))
    pilot_end = float(b["pilot"].get("x")) + float(b["pilot"].get("width"))
    assert abs(pilot_end - float(b["wave-1"].get("x"))) < 0.2
    week = (float(b["wave-1"].get("width"))) / ((datetime(2027, 2, 1) - datetime(2026, 12, 7)).days / 7)
    assert abs(float(b["general"].get("width")) - 4 * week) < 1


def test_today_line_lies_between_the_phase_started_and_the_next():
    for today, before, after in [(TODAY, "pilot", "wave-1"), (datetime(2027, 1, 10, tzinfo=UTC), "wave-1", "general")]:
        root = parse(demo_plan(), today=today)
        (line,) = [el for el in root if "tl-today" in el.get("class", "").split()]  # the legend's sample is nested
        b = bars(root)
        assert float(b[before].get("x")) < float(line.get("x1")) < float(b[after].get("x"))
        assert f"Today · {today.day}" in text_of(having(root, "tl-today-label")[0])


def test_held_and_rolled_back_phases_carry_their_status_and_look_different():
    statuses = {"pilot": PhaseStatus.active, "wave-1": PhaseStatus.held, "general": PhaseStatus.rolled_back}
    root = parse(demo_plan(), statuses=statuses)
    b = bars(root)
    assert "tl-status-active" in b["pilot"].get("class").split()
    assert "tl-status-held" in b["wave-1"].get("class").split()
    assert "tl-status-rolled_back" in b["general"].get("class").split()
    assert len({b[k].get("fill") for k in b}) == 3  # readable without the page's stylesheet
    striped = {g.get("data-phase") for g in having(root, "tl-phase") if having(g, "tl-hatch")}
    assert striped == {"wave-1", "general"}
    assert b["general"].get("stroke-dasharray") and not b["wave-1"].get("stroke-dasharray")


def test_gate_and_training_markers_sit_on_their_phase_rows_with_titles():
    rows = {g.get("data-phase"): g for g in having(parse(demo_plan()), "tl-phase")}
    assert not having(rows["pilot"], "tl-gate")
    (gate,) = having(rows["wave-1"], "tl-gate")
    assert title(gate) == "Gate: blog-posts, satisfaction"
    (training,) = having(rows["pilot"], "tl-training")
    assert title(training) == ("Training 3 Nov 2026, 10:00 UTC+01:00 · Pilot group · "
                               "Blogging and the wiki in 60 minutes")
    (training,) = having(rows["wave-1"], "tl-training")
    assert "8 Dec 2026" in title(training) and "Microblog etiquette" in title(training)
    assert not having(rows["general"], "tl-training")


def test_phases_in_different_offsets_are_placed_by_the_instant():
    same = [datetime(2026, 11, 2, 8, tzinfo=CET), datetime(2026, 11, 2, 7, tzinfo=UTC),
            datetime(2026, 11, 2, 2, tzinfo=timezone(timedelta(hours=-5)))]
    plan = Plan(plan="tz", phases=tuple(Phase(key=f"p{i}", starts=at) for i, at in enumerate(same)))
    assert len({bar.get("x") for bar in bars(parse(plan)).values()}) == 1


def test_every_text_is_escaped():
    evil = "<script>alert(1)</script>"
    plan = with_phase(demo_plan(), "pilot", name=evil, gate=('"><img src=x>',),
                      trainings=(Training(at=datetime(2026, 11, 3, 10, tzinfo=UTC), audience="<b>", topic="&amp;"),))
    plan = plan.model_copy(update={"title": "</title><script>x</script>"})
    markup = str(render_timeline(plan, today=TODAY))
    root = ET.fromstring(markup)
    assert "<script>" not in markup and "<img" not in markup
    assert not [el for el in root.iter() if el.tag in (f"{SVG}script", f"{SVG}img", "script", "img", f"{SVG}b")]
    row = next(g for g in having(root, "tl-phase") if g.get("data-phase") == "pilot")
    assert evil in title(row)
    assert title(having(row, "tl-gate")[0]) == 'Gate: "><img src=x>'
    assert title(having(row, "tl-training")[0]).endswith("<b> · &amp;")
    assert root.find(f"{SVG}title").text == "Timeline of </title><script>x</script>"


def test_twenty_phases_grow_the_svg_and_keep_every_label():
    small, big = parse(many_phases(3)), parse(many_phases(20))
    assert view_height(big) - view_height(small) == 17 * 26
    assert [text_of(t) for t in having(big, "tl-label")] == [f"Wave {i:02d}" for i in range(20)]
    assert len(bars(big)) == 20
    ys = [float(bar.get("y")) for bar in bars(big).values()]
    assert all(b - a >= 26 for a, b in zip(ys, ys[1:]))  # one row each, no overlap


def test_a_long_name_is_shortened_in_the_label_but_kept_whole_in_the_row_title():
    name = "Department rollout for Finance, Controlling, Procurement and the whole Shared Service Centre"
    root = parse(with_phase(demo_plan(), "pilot", name=name))
    label = text_of(having(root, "tl-label")[0])
    assert label.endswith("…") and name.startswith(label[:-1])
    assert title(having(root, "tl-phase")[0]).startswith(name)


def test_empty_plan_renders_a_small_message():
    root = parse(Plan(plan="empty", title="Nothing yet"))
    assert root.get("role") == "img"
    assert not bars(root)
    assert "No phases" in text_of(having(root, "tl-empty")[0])
    assert view_height(root) < 100
