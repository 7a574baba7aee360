"""One rule for a user id at every door: what Unleash accepts as a constraint value, CSV-safe."""

import logging

import httpx
import pytest

from flags.admin import UnleashAdmin
from flags.errors import UnleashRefused
from planner.errors import InputInvalid
from planner.userids import MAX_LENGTH, check_user_id, problem, shown
from planner.userlist import parse_user_list
from planner.errors import UserListInvalid


@pytest.mark.parametrize("user_id", ["u-7", "anna.schmidt@example.com", "ü" * MAX_LENGTH, "x" * MAX_LENGTH])
def test_ids_unleash_takes_are_fine(user_id):
    assert problem(user_id) is None and check_user_id(user_id) == user_id


@pytest.mark.parametrize("user_id, why", [
    ("", "is empty"), ("x" * (MAX_LENGTH + 1), "is 101 characters long; a user id has at most 100"),
    ("a b", "may not contain"), ("a,b", "may not contain"), ("a;b", "may not contain"), ("a\x00b", "may not contain"),
    ("\ttab", "may not contain"), ('say"', "may not contain")])
def test_ids_unleash_or_a_csv_would_refuse_are_named_without_repeating_them(user_id, why):
    assert why in problem(user_id)
    with pytest.raises(InputInvalid) as refused:
        check_user_id(user_id, field="user")
    assert refused.value.field == "user" and why in refused.value.message
    assert len(str(refused.value)) < 120  # the value itself is not in the message


def test_a_user_list_names_the_line_and_quotes_a_long_id_cut_short():
    with pytest.raises(UserListInvalid) as refused:
        parse_user_list("user\nu-1\n" + "y" * 100_000 + "\n")
    (error,) = refused.value.errors
    assert error.path == "line 3" and "is 100000 characters long" in error.message and len(error.message) < 150
    assert shown("z" * 41) == "z" * 40 + "…"


def test_what_the_server_echoes_back_is_cut_short_in_the_error():
    echo = "x" * 100_000

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"name": "BadDataError", "message": f"invalid value {echo}"})

    admin = UnleashAdmin("http://unleash.test/api", "*:*.secret-token", transport=httpx.MockTransport(refuse))
    with pytest.raises(UnleashRefused) as refused:
        admin.create_segment({"name": "s", "constraints": []})
    assert len(str(refused.value)) < 800 and "more characters" in str(refused.value)


def test_the_pusher_logs_the_same_failure_once_a_minute(monkeypatch, caplog):
    from services import membership_push

    pusher = membership_push.MembershipPusher(database_url="sqlite://", admin=None)
    clock = iter([0.0, 1.0, 2.0, 59.0, 61.0, 62.0])
    monkeypatch.setattr(membership_push.time, "monotonic", lambda: next(clock))
    with caplog.at_level(logging.WARNING, logger=membership_push.__name__):
        for _ in range(5):
            pusher._warn("p", "Unleash refused it")
        pusher._warn("p", "another failure")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["opt-in changes of plan p not pushed yet: Unleash refused it",
                     "opt-in changes of plan p not pushed yet: Unleash refused it (and 3 times in the last minute)",
                     "opt-in changes of plan p not pushed yet: another failure"]
