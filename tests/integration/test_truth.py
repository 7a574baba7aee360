"""The truth test: after a sync, the real Unleash SDK answers exactly what the access rule says,
for a grid of users x every feature x instants before, at and after every phase start."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from planner.db import session_scope
from planner.membership import User, bucket, group_id
from planner.planfile import load_plan
from planner.plans import apply_plan
from planner.preview import user_access
from tests.integration.unleash import admin_client, sdk_client, unique, unleash_env, wait_for_client_api
from services.sync import sync_plan

pytestmark = pytest.mark.integration

PLAN = """
plan: {key}
flag_prefix: {prefix}
unleash: {{project: default, environment: development}}
features:
  - {{key: blog, name: Innovation blog}}
  - {{key: wiki, name: Wiki}}
  - {{key: microblog, name: Microblog}}
  - {{key: events}}
cohorts:
  - {{key: pilot, kind: opt_in, capacity: 5}}
  - {{key: champions, kind: list, users: [champ-1, champ-2]}}
  - {{key: hr, kind: attribute, rules: [{{property: department, operator: IN, values: [HR]}}]}}
  - {{key: sales-half, kind: attribute, percentage: 50,
     rules: [{{property: department, operator: IN, values: [Sales]}}]}}
  - {{key: berlin, kind: attribute, rules: [{{property: location, operator: STR_STARTS_WITH, values: [ber],
     case_insensitive: true}}, {{property: level, operator: NUM_GTE, values: ["3"]}}]}}
  - {{key: all, kind: everyone, percentage: 20}}
phases:
  - {{key: pilot, starts: "2030-01-10T08:00:00+01:00", cohorts: [pilot, champions], features: [blog, wiki],
     grants: [{{feature: microblog, cohorts: [champions]}}]}}
  - {{key: wave-1, starts: "2030-02-01T08:00:00+01:00", cohorts: [hr, sales-half], features: [microblog]}}
  - {{key: wave-2, starts: "2030-02-15T09:30:00-05:00", cohorts: [berlin]}}
  - {{key: general, starts: "2030-03-01T08:00:00+01:00", cohorts: [all], features: [events]}}
"""


def grid_users(plan) -> list[User]:
    sales = group_id(plan, plan.cohort("sales-half"))
    everyone = group_id(plan, plan.cohort("all"))
    inside = next(f"s-{i}" for i in range(1000) if bucket(sales, f"s-{i}") <= 50)
    outside = next(f"s-{i}" for i in range(1000) if bucket(sales, f"s-{i}") > 50)
    lucky = next(f"e-{i}" for i in range(1000) if bucket(everyone, f"e-{i}") <= 20)
    unlucky = next(f"e-{i}" for i in range(1000) if bucket(everyone, f"e-{i}") > 20)
    return [
        User("champ-1"), User("champ-2", {"department": "HR"}), User("nobody"),
        User("hr-1", {"department": "HR"}), User("hr-2", {"department": "hr"}),
        User(inside, {"department": "Sales"}), User(outside, {"department": "Sales"}), User(inside),
        User("b-1", {"location": "Berlin-Mitte", "level": "3"}), User("b-2", {"location": "BERLIN", "level": "2"}),
        User("b-3", {"location": "Bern", "level": "7.5"}), User("b-4", {"location": "Hamburg", "level": "9"}),
        User(lucky), User(unlucky), User(lucky, {"department": "HR"}),
    ]


def instants(plan):
    result = []
    for phase in plan.phases:
        result += [phase.starts - timedelta(seconds=1), phase.starts - timedelta(milliseconds=1), phase.starts,
                   phase.starts + timedelta(milliseconds=1), phase.starts + timedelta(days=1)]
    return result


def context(user: User, at) -> dict:
    return {"userId": user.id, "properties": dict(user.properties), "currentTime": at}


def test_the_sdk_answers_what_the_access_rule_says(database_url, tmp_path):
    env = unleash_env()
    prefix = unique("t") + "-"
    plan = load_plan(PLAN.format(key=unique("truth-"), prefix=prefix))
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="test")
    with admin_client(env) as admin:
        result = sync_plan(database_url=database_url, plan_key=plan.key, admin=admin, actor="test")
    assert result.outcome == "ok", result.error
    flags = [plan.flag_name(f.key) for f in plan.features]
    wait_for_client_api(env, lambda fs: all(f in fs and fs[f]["strategies"] for f in flags))
    client = sdk_client(env, tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not all(f in client.feature_definitions() for f in flags) and time.monotonic() < deadline:
            time.sleep(0.1)
        mismatches, checked, granted = [], 0, 0
        for at in instants(plan):
            for user in grid_users(plan):
                expected = set(user_access(plan, user, at=at))
                for feature in plan.features:
                    sdk = client.is_enabled(plan.flag_name(feature.key), context(user, at))
                    checked += 1
                    granted += sdk
                    if sdk != (feature.key in expected):
                        mismatches.append((user.id, user.properties, feature.key, at.isoformat(), sdk))
        assert mismatches == []
        assert checked == 20 * 15 * 4 and 0 < granted < checked  # the grid sees both answers
    finally:
        client.destroy()
