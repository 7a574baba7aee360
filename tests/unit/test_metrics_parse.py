"""Served-hour counts parsed from Unleash's raw client metrics, with answers from httpx.MockTransport."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from flags.admin import UnleashAdmin
from flags.errors import UnleashAuthError, UnleashRefused, UnleashUnavailable
from flags.metrics import MAX_APPS, ServedHour, served_hours

TOKEN = "*:*.s3cr3t-admin-token-0123456789abcdef"
URL = "http://127.0.0.1:4242/api"
FLAG = "wiki"


def answering(*bodies, status: int = 200):
    """An admin client whose server answers each request with the next body; records the requests."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = bodies[min(len(seen), len(bodies)) - 1]
        return httpx.Response(status, json=body)

    return UnleashAdmin(URL, TOKEN, transport=httpx.MockTransport(handle), backoff=0), seen


def raw(*rows) -> dict:
    return {"version": 1, "maturity": "stable", "data": list(rows)}


def row(timestamp="2026-12-02T05:00:00.000Z", app="intranet", environment="production", yes=3, no=1, **extra):
    return {"featureName": FLAG, "appName": app, "environment": environment, "timestamp": timestamp,
            "yes": yes, "no": no, **extra}


def at(hour: int) -> datetime:
    return datetime(2026, 12, 2, hour, tzinfo=UTC)


def test_one_get_of_the_raw_endpoint_for_the_48_hours_unleash_keeps():
    admin, seen = answering(raw(row()))
    assert served_hours(admin, "a flag/with space") == [
        ServedHour(flag="a flag/with space", hour=at(5), environment="production", app="intranet", yes=3, no=1)]
    [request] = seen
    assert request.method == "GET"
    assert request.url.raw_path == b"/api/admin/client-metrics/features/a%20flag%2Fwith%20space/raw?hoursBack=48"
    assert request.headers["Authorization"] == TOKEN


def test_hours_back_is_sent_and_refused_beyond_what_unleash_keeps():
    admin, seen = answering(raw())
    assert served_hours(admin, FLAG, hours_back=2) == []
    assert seen[0].url.params["hoursBack"] == "2"
    for wrong in (0, 49):
        with pytest.raises(ValueError, match="hours_back must be 1 to 48"):
            served_hours(admin, FLAG, hours_back=wrong)
    assert len(seen) == 1


def test_no_rows_is_no_served_hours():
    # Unleash answers so both for a flag never evaluated and for a flag it does not know
    admin, _ = answering(raw())
    assert served_hours(admin, FLAG) == []


def test_several_apps_and_environments_each_get_their_hour_oldest_first():
    admin, _ = answering(raw(
        row("2026-12-02T05:00:00.000Z", app="intranet", environment="production", yes=7, no=2),
        row("2026-12-02T04:00:00.000Z", app="mobile", environment="production", yes=1, no=0),
        row("2026-12-02T05:00:00.000Z", app="intranet", environment="development", yes=0, no=4),
        row("2026-12-02T05:00:00.000Z", app="mobile", environment="production", yes=5, no=5),
    ))
    assert [(h.hour, h.environment, h.app, h.yes, h.no) for h in served_hours(admin, FLAG)] == [
        (at(4), "production", "mobile", 1, 0),
        (at(5), "development", "intranet", 0, 4),
        (at(5), "production", "intranet", 7, 2),
        (at(5), "production", "mobile", 5, 5),
    ]


def test_the_servers_zero_padding_is_left_out():
    # Unleash fills every hour of the window with yes = no = 0 rows (they have no variants key)
    padding = [{"timestamp": f"2026-12-02T0{h}:00:00.000Z", "no": 0, "yes": 0, "appName": "intranet",
                "environment": "production", "featureName": FLAG} for h in range(5)]
    admin, _ = answering(raw(*padding, row("2026-12-02T05:00:00.000Z", variants={})))
    assert [h.hour for h in served_hours(admin, FLAG)] == [at(5)]


def test_timestamps_with_z_an_offset_or_none_are_utc_hours():
    admin, _ = answering(raw(
        row("2026-12-02T05:00:00.000Z", app="z"),
        row("2026-12-02T05:00:00Z", app="z-no-millis"),
        row("2026-12-02T06:00:00+01:00", app="offset"),
        row("2026-12-02T05:00:00", app="naive"),
    ))
    hours = served_hours(admin, FLAG)
    assert {h.app: h.hour for h in hours} == {"z": at(5), "z-no-millis": at(5), "offset": at(5), "naive": at(5)}
    assert all(h.hour.utcoffset().total_seconds() == 0 and h.hour.tzinfo is UTC for h in hours)


def test_missing_optional_fields_and_variants():
    admin, _ = answering(raw(
        {"environment": "production", "timestamp": "2026-12-02T05:00:00.000Z", "yes": 2},
        {"environment": "production", "timestamp": "2026-12-02T05:00:00.000Z", "appName": "b", "no": 3,
         "yes": None, "variants": {"blue": 2, "red": 1}},
        row(yes=4.0, no=0, variants={"blue": 4}),
    ))
    assert served_hours(admin, FLAG) == [
        ServedHour(flag=FLAG, hour=at(5), environment="production", app="", yes=2, no=0),
        ServedHour(flag=FLAG, hour=at(5), environment="production", app="b", yes=0, no=3),
        ServedHour(flag=FLAG, hour=at(5), environment="production", app="intranet", yes=4, no=0),
    ]


@pytest.mark.parametrize(("bad", "words"), [
    ({"timestamp": None}, "row 1 that has no timestamp"),
    ({"timestamp": "yesterday"}, "row 1 that has a timestamp that is not ISO 8601: 'yesterday'"),
    ({"environment": ""}, "row 1 that has no environment"),
    ({"yes": -1}, "row 1 that has yes=-1"),
    ({"no": "12"}, "row 1 that has no='12'"),
    ({"no": 1.5}, "row 1 that has no=1.5"),
    ({"yes": True}, "row 1 that has yes=True"),
])
def test_a_row_that_cannot_be_counted_is_an_error_naming_row_and_field(bad, words):
    admin, _ = answering(raw(row(), row(**{"app": "b", **bad})))
    with pytest.raises(UnleashRefused) as caught:
        served_hours(admin, FLAG)
    assert words in str(caught.value)
    assert caught.value.path == f"/api/admin/client-metrics/features/{FLAG}/raw"
    assert TOKEN.rsplit(".", 1)[-1] not in str(caught.value)


@pytest.mark.parametrize("body", [{"version": 1}, {"data": None}, {"data": {"a": 1}}, ["not", "an", "object"]])
def test_an_answer_without_a_data_list_is_an_error(body):
    admin, _ = answering(body)
    with pytest.raises(UnleashRefused, match=r"without a list of metrics \(data\)"):
        served_hours(admin, FLAG)


def test_a_row_that_is_not_an_object_is_an_error():
    admin, _ = answering(raw(row(), "nope"))
    with pytest.raises(UnleashRefused, match="row 1 that is not an object"):
        served_hours(admin, FLAG)


def test_the_admin_clients_errors_and_retries_apply():
    admin, seen = answering({"name": "NoAccessError", "message": "no"}, status=403)
    with pytest.raises(UnleashAuthError):
        served_hours(admin, FLAG)
    admin, seen = answering({"message": "boom"}, status=503)
    with pytest.raises(UnleashUnavailable):
        served_hours(admin, FLAG)
    assert len(seen) == 3  # a GET: retried twice


def test_a_flag_at_the_servers_app_limit_is_logged(caplog):
    admin, _ = answering(raw(*(row(app=f"app-{i}") for i in range(MAX_APPS))))
    assert len(served_hours(admin, FLAG)) == MAX_APPS
    assert "counts of further apps are missing" in caplog.text
