"""The platform's KPI events: a batch posted twice counts once; a bad event is refused by its position and
field and stored nowhere, the good ones of its batch are stored; only the platform's token may post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from planner.db import session_scope
from planner.tables import KpiEventRow
from tests.web.test_tokens import bearer, new_token

NOW = datetime.now(UTC)


def event(i: int, **changes) -> dict:
    return {"kpi": "blog-posts", "user": f"u-{i}", "at": (NOW - timedelta(minutes=i)).isoformat(),
            "idempotency_key": f"post-{i}", **changes}


@pytest.fixture
def platform(app, demo, database_url):
    client = TestClient(app)
    client.headers.update(bearer(new_token(database_url)))
    return client


def stored(database_url) -> int:
    with session_scope(database_url) as session:
        return session.exec(select(func.count()).select_from(KpiEventRow)).one()


def test_a_batch_posted_twice_counts_once(platform, database_url):
    batch = [event(i) for i in range(200)]
    first = platform.post("/api/plans/intranet-rollout/events", json=batch)
    assert first.status_code == 200 and first.json() == {"stored": 200, "duplicates": 0, "refused": []}
    again = platform.post("/api/plans/intranet-rollout/events", json=batch)
    assert again.json() == {"stored": 0, "duplicates": 200, "refused": []}
    one = platform.post("/api/plans/intranet-rollout/events", json=event(7))  # one event, not a list
    assert one.json()["duplicates"] == 1
    assert stored(database_url) == 200


@pytest.mark.parametrize(("bad", "field", "words"), [
    ({"kpi": "no-such"}, "kpi", "is not a KPI of this plan"),
    ({"kpi": "satisfaction"}, "kpi", "is a manual KPI"),
    ({"value": float("nan")}, "value", "finite number"),
    ({"value": -1}, "value", "must not be negative"),
    ({"value": "3"}, "value", "finite number"),
    ({"at": "2026-12-01T09:30:00"}, "at", "with its offset"),
    ({"at": "yesterday"}, "at", "ISO 8601"),
    ({"at": (NOW + timedelta(days=2)).isoformat()}, "at", "lies in the future"),
    ({"idempotency_key": ""}, "idempotency_key", "unique text"),
    ({"idempotency_key": "k" * 201}, "idempotency_key", "1 to 200"),
    ({"user": "x" * 101}, "user", "at most 100"),
    ({"user": ""}, "user", "is empty"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_a_bad_event_is_refused_by_position_and_field_and_the_good_ones_are_stored(platform, database_url, bad, field,
                                                                                   words):
    batch = [event(0), event(1, **bad), event(2)]
    if bad.get("value") != bad.get("value"):  # NaN: JSON has no NaN, so send it as Python's json does
        import json
        answer = platform.post("/api/plans/intranet-rollout/events", content=json.dumps(batch),
                               headers={"Content-Type": "application/json"})
    else:
        answer = platform.post("/api/plans/intranet-rollout/events", json=batch)
    if answer.status_code == 422 and "refused" not in answer.json():  # NaN refused by the JSON parser itself
        assert stored(database_url) == 0
        return
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["stored"] == 2
    (refused,) = body["refused"]
    assert refused["index"] == 1 and refused["field"] == field and words in refused["message"], refused
    assert stored(database_url) == 2


def test_a_batch_of_only_bad_events_is_422_and_stores_nothing(platform, database_url):
    answer = platform.post("/api/plans/intranet-rollout/events", json=[event(0, kpi="nope"), {"kpi": 3}, "text"])
    assert answer.status_code == 422
    assert [r["index"] for r in answer.json()["refused"]] == [0, 1, 2]
    assert stored(database_url) == 0


def test_a_batch_over_1000_events_is_refused_whole(platform, database_url):
    answer = platform.post("/api/plans/intranet-rollout/events", json=[event(i) for i in range(1001)])
    assert answer.status_code == 422 and "1 to 1000 events" in answer.text
    assert stored(database_url) == 0


def test_only_the_platform_posts_events(lead, app, demo, database_url):
    assert lead.post("/api/plans/intranet-rollout/events", json=[event(0)]).status_code == 403
    assert TestClient(app).post("/api/plans/intranet-rollout/events", json=[event(0)]).status_code in (401, 403)
    assert stored(database_url) == 0
