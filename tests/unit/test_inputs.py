"""The one instant parser and the one name=value parser: what they take, and the errors naming the field."""

from datetime import datetime, timedelta

import pytest

from planner.errors import InputInvalid
from planner.inputs import parse_instant, parse_properties


def test_an_instant_needs_a_date_a_time_and_a_timezone():
    assert parse_instant(" 2027-02-03T10:00+01:00 ") == datetime.fromisoformat("2027-02-03T09:00+00:00")
    with pytest.raises(InputInvalid, match="^at: '2027-02-03T10:00' needs a timezone") as naive:
        parse_instant("2027-02-03T10:00")
    assert naive.value.field == "at"
    with pytest.raises(InputInvalid, match="^--at: 'tomorrow' is not a date and time, e.g. 2027"):
        parse_instant("tomorrow", field="--at")
    assert parse_instant("2027-02-03T10:00Z").utcoffset() == timedelta(0)


def test_properties_are_name_value_and_a_value_keeps_its_commas():
    assert parse_properties(["department=HR", " location = Berlin ", "", "tags=a,b", "query=x=y"]) == {
        "department": "HR", "location": "Berlin", "tags": "a,b", "query": "x=y"}
    assert parse_properties(["empty="]) == {"empty": ""}
    for bad in ("foo", "=HR"):
        with pytest.raises(InputInvalid, match=f"^prop: '{bad}' must look like name=value, e.g. department=HR$"):
            parse_properties(["department=HR", bad])
