"""Fuzzing the plan-file and user-list importers (hypothesis): any text or bytes gives a plan, or a clear
error naming the field or line, and nothing half-written; never another exception."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func
from sqlmodel import select
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.db import session_scope
from planner.errors import PlanInvalid, UserListInvalid
from planner.planfile import load_plan
from planner.tables import AuditRow, PlanRow
from planner.userlist import parse_user_list
from services.plans import apply_plan_text
from tests.plans import DEMO

BUDGET = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DEMO_TEXT = DEMO.read_text()

# YAML-ish documents: plan-shaped mappings with values of every kind, including the awkward ones
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
                    st.sampled_from(["2027-01-11T08:00:00+01:00", "9999-12-20T08:00:00Z", "opt_in", "list", "IN"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(st.sampled_from(["key", "name", "kind", "users", "rules", "starts", "cohorts",
                                                       "features", "capacity", "budget", "values", "property"]),
                                      inner, max_size=5), max_leaves=25)
documents = st.fixed_dictionaries({"plan": st.one_of(st.just("fuzz"), st.text(max_size=20))},
                                  optional={"features": values, "cohorts": values, "phases": values, "kpis": values,
                                            "title": values, "guidelines": values})


def counts(database_url: str) -> tuple[int, int]:
    with session_scope(database_url) as session:
        return tuple(session.exec(select(func.count()).select_from(table)).one() for table in (PlanRow, AuditRow))


def mutated(text: str, data: st.DataObject) -> str:
    """The demo plan file with a few characters cut, doubled or replaced."""
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text) - 1))
        text = text[:at] + data.draw(st.sampled_from(["", ":", "\n", " ", "- ", "{", "]", "\x00", "\ud800",
                                                      "&a", "*a", "!!python/object:os.system", text[at] * 2])) + \
            text[at + 1:]
    return text


@BUDGET
@given(document=documents)
def test_any_plan_shaped_document_is_a_plan_or_named_errors(document):
    try:
        text = yaml.safe_dump(document, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        load_plan(text)
    except PlanInvalid as refused:
        assert refused.errors and all(e.path and e.message for e in refused.errors)


@BUDGET
@given(data=st.data())
def test_a_mangled_plan_file_is_a_plan_or_named_errors(data):
    try:
        load_plan(mutated(DEMO_TEXT, data))
    except PlanInvalid as refused:
        assert refused.errors and all(e.path and e.message for e in refused.errors)


@BUDGET
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_bytes_as_a_user_list_are_users_or_named_lines(raw):
    try:
        users = parse_user_list(raw)
    except UserListInvalid as refused:
        assert refused.errors and all(e.path.startswith(("line ", "(file)")) for e in refused.errors)
    else:
        assert users and all(0 < len(u) <= 100 for u in users)


@pytest.mark.integration
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_refused_import_writes_nothing(database_url, data):
    text = mutated(DEMO_TEXT, data).encode("utf-8", "surrogatepass")
    before = counts(database_url)
    try:
        apply_plan_text(database_url=database_url, text=text, actor="fuzz")
    except PlanInvalid:
        assert counts(database_url) == before
