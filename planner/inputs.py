"""Parsing what a person types outside a plan file: an instant, `name=value` properties. One parser each,
for the CLI, the pages and the API alike; a bad value is an InputInvalid naming the field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from planner.errors import InputInvalid
from planner.limits import instant_problem

EXAMPLE_INSTANT = "2027-02-03T10:00+01:00"


def parse_instant(text: str, *, field: str = "at") -> datetime:
    """An ISO date and time with its timezone."""
    value = text.strip()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InputInvalid(field, f"'{value}' is not a date and time, e.g. {EXAMPLE_INSTANT}") from None
    if at.tzinfo is None:
        raise InputInvalid(field, f"'{value}' needs a timezone, e.g. {EXAMPLE_INSTANT}")
    outside = instant_problem(at)
    if outside:
        raise InputInvalid(field, f"'{value}' {outside}")
    return at


def parse_properties(items: Iterable[str], *, field: str = "prop") -> dict[str, str]:
    """`name=value` items (surrounding spaces dropped, blank items skipped); an item without `=` or without a
    name is refused. A value may hold commas and further `=`."""
    properties: dict[str, str] = {}
    for item in items:
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputInvalid(field, f"'{item.strip()}' must look like name=value, e.g. department=HR")
        properties[name.strip()] = value.strip()
    return properties
