"""Invalid plan files: every mistake reported with its field path; valid ones parse."""

import pytest

from planner.planfile import load_plan
from planner.validation import PlanInvalid
from tests.plans import DEMO, demo_plan

BAD = """
plan: Intranet Rollout
unleash: {project: default, environment: ""}
features:
  - {key: wiki, name: Wiki}
  - {key: wiki, name: Wiki again}
  - {key: "bad key!", name: Bad}
  - {key: blog, nmae: Typo}
cohorts:
  - {key: pilot, kind: opt_in, capacity: 0}
  - {key: hr, kind: attribute, rules: [{property: department, operator: LIKE, values: [HR]}]}
  - {key: ops, kind: attribute, rules: [{property: level, operator: NUM_GT, values: [high]}]}
  - {key: sales, kind: attribute, rules: [], percentage: 150}
  - {key: champs, kind: list, users: [u-1, u-1]}
  - {key: all, kind: everyone, users: [u-9]}
  - {key: club, kind: secret}
kpis:
  - {key: posts, source: event, target: "lots"}
phases:
  - {key: pilot, starts: "2027-02-01T08:00:00+01:00", cohorts: [pilot, nobody], features: [wiki, ghost]}
  - {key: wave-1, starts: "2027-01-01T08:00:00+01:00", cohorts: [hr], gate: [missing-kpi]}
  - {key: wave-2, starts: "2027-03-01T08:00:00", cohorts: [all]}
  - {key: wave-3, starts: "2027-04-01T08:00:00+01:00", ends: "2027-03-01T08:00:00+01:00",
     grants: [{feature: nope, cohorts: [pilot]}]}
"""

EXPECTED = {
    "plan": "lowercase",
    "unleash.environment": "non-empty",
    "features[1].key": "duplicate key 'wiki' (already used by features[0])",
    "features[2].key": "'bad key!'",
    "features[3].nmae": "not a known field",
    "cohorts[0].capacity": "at least 1",
    "cohorts[1].rules[0].operator": "Input should be",
    "cohorts[2].rules[0].values[0]": "'high' is not a number",
    "cohorts[3].rules": "at least one rule",
    "cohorts[3].percentage": "between 1 and 100",
    "cohorts[4].users[1]": "listed twice",
    "cohorts[5].users": "only list cohorts",
    "cohorts[6].kind": "Input should be",
    "kpis[0].target": "comparison and a number",
    "phases[0].cohorts[1]": "unknown cohort 'nobody'",
    "phases[0].features[1]": "unknown feature 'ghost'",
    "phases[1].starts": "must be after phases[0].starts",
    "phases[1].gate[0]": "unknown kpi 'missing-kpi'",
    "phases[2].starts": "needs a timezone",
    "phases[3].ends": "must be after starts",
    "phases[3].grants[0].feature": "unknown feature 'nope'",
}


def test_every_mistake_is_reported_with_its_field_path():
    with pytest.raises(PlanInvalid) as caught:
        load_plan(BAD)
    errors = {e.path: e.message for e in caught.value.errors}
    for path, fragment in EXPECTED.items():
        assert path in errors, f"no error for {path}; got {sorted(errors)}"
        assert fragment in errors[path], f"{path}: {errors[path]!r} lacks {fragment!r}"
    # a cohort that failed to parse is not reported again as unknown where phases name it
    assert "phases[1].cohorts[0]" not in errors


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(PlanInvalid) as caught:
        load_plan("plan: x\nfeatures:\n  - {key: a\n")
    assert caught.value.errors[0].path.startswith("line ")


@pytest.mark.parametrize("text", ["", "- a list\n", "just text"])
def test_documents_that_are_not_a_mapping_are_refused(text):
    with pytest.raises(PlanInvalid):
        load_plan(text)


def test_single_value_operator_with_two_values_is_refused():
    text = DEMO.read_text().replace("operator: IN, values: [HR]", "operator: NUM_GT, values: ['1', '2']")
    with pytest.raises(PlanInvalid) as caught:
        load_plan(text)
    assert [str(e) for e in caught.value.errors] == ["cohorts[2].rules[0].values: NUM_GT compares with exactly one value, got 2"]


def test_flag_names_with_the_prefix_must_be_valid_unleash_names():
    text = DEMO.read_text().replace("plan: intranet-rollout", "plan: intranet-rollout\nflag_prefix: 'a b/'")
    with pytest.raises(PlanInvalid) as caught:
        load_plan(text)
    paths = {e.path for e in caught.value.errors}
    assert "flag_prefix" in paths and "features[0].key" in paths


def test_the_demo_plan_is_valid():
    plan = demo_plan()
    assert [p.key for p in plan.phases] == ["pilot", "wave-1", "general"]
    assert plan.cohort("sales-quarter").percentage == 25
