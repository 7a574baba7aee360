"""Hostile or broken plan files and lists get a clear error naming the field or line, never a crash."""

from datetime import UTC, datetime

import pytest

from planner.errors import InputInvalid, PlanInvalid, UserListInvalid
from planner.inputs import parse_instant
from planner.model import Phase, Plan
from planner.planfile import load_plan
from planner.userlist import parse_user_list
from web.timeline import render_timeline

PHASE = "phases:\n  - {{key: p, starts: '{starts}'}}\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as refused:
        load_plan(text)
    return [str(e) for e in refused.value.errors]


def test_a_key_given_twice_is_refused_with_its_line_instead_of_the_last_one_winning():
    text = "plan: a\nfeatures: [{key: blog}]\ncohorts: []\nfeatures: [{key: wiki}]\n"
    assert errors_of(text) == ["line 4, column 1: not valid YAML: 'features' is given twice in one mapping "
                               "(first on line 2)"]


@pytest.mark.parametrize("text, expected", [
    ("plan: a\nx: " + "[" * 3000 + "]" * 3000 + "\n", "(file): is nested too deeply to be a plan"),
    ("plan: a\n" + PHASE.format(starts="9999-12-20T08:00:00+01:00"), "phases[0].starts: must be between 2000 and 2099"),
    ("plan: a\n" + PHASE.format(starts="0001-01-01T08:00:00+01:00"), "phases[0].starts: must be between 2000 and 2099"),
    ("plan: a\nphases:\n  - {key: p, starts: '2027-01-01T08:00:00+01:00', budget: .nan}\n",
     "phases[0].budget: must be a number (not NaN or infinite)"),
    ("plan: a\nphases:\n  - {key: p, starts: '2027-01-01T08:00:00+01:00', budget: .inf}\n",
     "phases[0].budget: must be a number (not NaN or infinite)"),
    ("plan: a\ncohorts:\n  - {key: c, kind: opt_in, capacity: 1000000000000000000000000000000}\n",
     "cohorts[0].capacity: is out of range (at most 1,000,000,000,000)"),
    ('plan: a\ntitle: "\\ud800"\n', "title: contains a character that is not valid Unicode (a lone surrogate)"),
    ('plan: a\ngoal: "a\\0b"\n', "goal: contains a NUL character"),
    ("plan: a\ntitle: " + "t" * 201 + "\n", "title: is 201 characters long; at most 200"),
    ("plan: a\nguidelines: {text: " + "g" * 20_001 + "}\n", "guidelines.text: is 20,001 characters long; at most 20,000"),
    ("plan: a\ncohorts:\n  - {key: c, kind: list, users: ['" + "u" * 101 + "']}\n",
     "cohorts[0].users[0]: '" + "u" * 40 + "…' is not a user id: it is 101 characters long; a user id has at most 100"),
])
def test_values_that_cannot_be_stored_or_shown_are_named(text, expected):
    assert expected in errors_of(text)


def test_a_huge_file_is_refused_before_it_is_parsed():
    assert errors_of("plan: a\n#" + "x" * 2_000_000) == ["(file): is 2,000,009 characters long; a plan file has at "
                                                         "most 2,000,000"]


def test_a_user_list_that_is_not_utf8_is_named_as_such():
    with pytest.raises(UserListInvalid, match=r"\(file\): is not UTF-8 text"):
        parse_user_list("user\nJürgen\n".encode("latin-1"))
    with pytest.raises(UserListInvalid, match="line 1"):
        parse_user_list(b"\x00\x01\x02binary")
    assert parse_user_list("\ufeffuser\nJürgen\n".encode("utf-8")) == ["Jürgen"]
    with pytest.raises(UserListInvalid, match=r"^line \d+: "):  # found by the fuzzer: csv.Error escaped before
        parse_user_list(b"\r\x00")


def test_a_preview_instant_is_bounded_too():
    with pytest.raises(InputInvalid, match="^at: '9999-01-01T00:00\\+00:00' must be between 2000 and 2099$"):
        parse_instant("9999-01-01T00:00+00:00")


def test_a_plan_stored_before_the_bounds_still_draws_its_timeline():
    plan = Plan(plan="old", phases=(Phase(key="a", starts=datetime(2027, 1, 1, tzinfo=UTC)),
                                    Phase(key="b", starts=datetime(9999, 12, 20, tzinfo=UTC))))
    assert "<svg" in render_timeline(plan, today=datetime(2027, 1, 5, tzinfo=UTC))
