"""Plan errors as a person reads them on a form: items by name, fields in words, references resolved."""

from planner.errors import PlanError
from planner.wording import describe_path, readable

DOC = {"phases": [{"key": "pilot", "name": "Pilot"}, {"key": "wave-1", "name": "Wave 1"}],
       "cohorts": [{"key": "hr", "name": "HR", "rules": [{}, {}]}, {"key": "sales"}]}


def test_a_field_path_reads_as_the_field_of_the_named_item():
    assert describe_path("phases[1].starts", DOC) == "Start of phase Wave 1"
    assert describe_path("cohorts[0].rules[1].values", DOC) == "Values of rule 2 of cohort HR"
    assert describe_path("cohorts[1].capacity", DOC) == "Capacity of cohort sales"  # no name: its key
    assert describe_path("flag_prefix", DOC) == "Flag prefix"


def test_references_in_a_message_name_the_item_and_show_the_instant_as_the_page_does():
    error = PlanError("phases[1].starts", "must be after phases[0].starts (2026-12-07T08:00:00+01:00)")
    assert readable(error, DOC) == "Start of phase Wave 1 must be after the start of Pilot (07 Dec 2026 08:00)"
    assert readable(error, DOC, with_field=False) == "must be after the start of Pilot (07 Dec 2026 08:00)"
    assert readable(PlanError("cohorts[0].rules[1].values", "NUM_GT compares with exactly one value, got 2"), DOC) \
        == "Values of rule 2 of cohort HR: NUM_GT compares with exactly one value, got 2"


def test_a_kpi_window_in_words():
    from planner.kpis import window_words
    from tests.plans import demo_plan

    plan = demo_plan()
    kpi = plan.kpis[0]
    words = {text: window_words(kpi.model_copy(update={"window": text}), plan)
             for text in ("since pilot", "since gone", "14d", "2w", "1d", "36h", "90m", "")}
    assert words == {"since pilot": "since Pilot's start", "since gone": "since gone's start",
                     "14d": "the last 14 days", "2w": "the last 2 weeks", "1d": "the last day",
                     "36h": "the last 36 hours", "90m": "the last 90 minutes", "": "all the data"}
