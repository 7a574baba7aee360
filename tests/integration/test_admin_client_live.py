"""The admin client against the real Unleash server started by `make unleash`."""

from __future__ import annotations

import uuid

import pytest

from flags.admin import ResourceLimits, UnleashAdmin
from flags.errors import UnleashAuthError, UnleashConflict, UnleashNotFound, UnleashRefused
from tests.integration.unleash import unleash_env

pytestmark = pytest.mark.integration

_ENV = unleash_env(module_level=True)
URL, ADMIN_TOKEN, CLIENT_TOKEN = _ENV["UNLEASH_URL"], _ENV["UNLEASH_ADMIN_TOKEN"], _ENV["UNLEASH_CLIENT_TOKEN"]
PROJECT = "default"
ENV = "development"


@pytest.fixture
def names(admin):
    """Unique names for this test; every flag and segment made with them is removed afterwards."""
    run = uuid.uuid4().hex[:10]
    made = {"flags": [], "segments": []}

    def flag(label: str) -> str:
        made["flags"].append(f"it-{label}-{run}")
        return made["flags"][-1]

    def segment(label: str) -> str:
        made["segments"].append(f"it-{label}-{run}")
        return made["segments"][-1]

    yield flag, segment
    # Archive ours (without search, which Unleash rate-limits). Not deleted for good right away:
    # Unleash 8.2 records an archived flag's lifecycle in a background listener, and a flag deleted
    # before it runs makes that insert fail unhandled, which ends the server process.
    active = {f["name"] for f in admin.list_features(PROJECT)}
    for name in made["flags"]:
        if name in active:
            admin.archive_feature(PROJECT, name)
    for segment_ in admin.list_segments():
        if segment_["name"] in made["segments"]:
            admin.delete_segment(segment_["id"])


def rollout(title: str, *, percent: int = 100, segments=(), constraints=()) -> dict:
    return {
        "name": "flexibleRollout",
        "title": title,
        "parameters": {"rollout": str(percent), "stickiness": "default", "groupId": "plan-pilot"},
        "constraints": list(constraints),
        "segments": list(segments),
    }


DEPARTMENT_HR = {"contextName": "department", "operator": "IN", "values": ["HR"], "inverted": False, "caseInsensitive": False}


def test_resource_limits_are_the_server_defaults(admin):
    assert admin.resource_limits() == ResourceLimits()


def test_health(admin):
    assert admin.health() is True


def test_flag_with_titled_strategy_constraints_and_segment(admin, names):
    flag, segment = names
    seg = admin.create_segment({"name": segment("pilot"), "description": "planner:pilot", "constraints": [DEPARTMENT_HR]})
    name = flag("blog")
    created = admin.create_feature(PROJECT, name=name, description="Innovation blog")
    assert (created["name"], created["type"]) == (name, "release")

    added = admin.add_strategy(
        PROJECT, name, ENV,
        rollout("planner:pilot", percent=25, segments=[seg["id"]],
                constraints=[{"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2027-01-11T07:00:00.000Z"}]),
    )
    assert added["id"] and added["title"] == "planner:pilot"
    assert added["segments"] == [seg["id"]]

    listed = admin.list_strategies(PROJECT, name, ENV)
    assert [s["id"] for s in listed] == [added["id"]]
    assert listed[0]["constraints"][0]["operator"] == "DATE_AFTER"
    assert listed[0]["parameters"]["rollout"] == "25"

    feature = admin.get_feature(PROJECT, name)
    env = next(e for e in feature["environments"] if e["name"] == ENV)
    assert [s["id"] for s in env["strategies"]] == [added["id"]]

    body = rollout("planner:pilot", percent=50, segments=[seg["id"]])
    updated = admin.update_strategy(PROJECT, name, ENV, added["id"], body)
    assert updated["parameters"]["rollout"] == "50" and updated["constraints"] == []

    admin.delete_strategy(PROJECT, name, ENV, added["id"])
    assert admin.list_strategies(PROJECT, name, ENV) == []
    with pytest.raises(UnleashNotFound):
        admin.delete_strategy(PROJECT, name, ENV, added["id"])


def test_update_feature_changes_only_the_description(admin, names):
    flag, _ = names
    name = flag("ops")
    admin.create_feature(PROJECT, name=name, description="before", type="operational")
    admin.update_feature(PROJECT, name, description="after")
    feature = admin.get_feature(PROJECT, name)
    assert (feature["description"], feature["type"]) == ("after", "operational")


def test_toggle_environment(admin, names):
    flag, _ = names
    name = flag("wiki")
    admin.create_feature(PROJECT, name=name, description="Wiki")
    admin.add_strategy(PROJECT, name, ENV, rollout("planner:all"))

    def enabled() -> bool:
        feature = admin.get_feature(PROJECT, name)
        return next(e for e in feature["environments"] if e["name"] == ENV)["enabled"]

    assert enabled() is False
    admin.set_environment_enabled(PROJECT, name, ENV, True)
    assert enabled() is True
    admin.set_environment_enabled(PROJECT, name, ENV, True)  # already on: still fine
    admin.set_environment_enabled(PROJECT, name, ENV, False)
    assert enabled() is False


def test_segments_crud_and_conflict_while_in_use(admin, names):
    flag, segment = names
    seg_name = segment("hr")
    seg = admin.create_segment({"name": seg_name, "description": "planner:hr", "constraints": [DEPARTMENT_HR]})
    assert isinstance(seg["id"], int)
    with pytest.raises(UnleashConflict):
        admin.create_segment({"name": seg_name, "constraints": []})

    changed = dict(DEPARTMENT_HR, values=["HR", "Sales"])
    admin.update_segment(seg["id"], {"name": seg_name, "description": "planner:hr", "constraints": [changed]})
    stored = next(s for s in admin.list_segments() if s["id"] == seg["id"])
    assert stored["constraints"][0]["values"] == ["HR", "Sales"]

    name = flag("seg-user")
    admin.create_feature(PROJECT, name=name, description="uses a segment")
    strategy = admin.add_strategy(PROJECT, name, ENV, rollout("planner:hr", segments=[seg["id"]]))
    with pytest.raises(UnleashConflict) as caught:
        admin.delete_segment(seg["id"])
    assert caught.value.status == 409 and caught.value.method == "DELETE"

    admin.delete_strategy(PROJECT, name, ENV, strategy["id"])
    admin.delete_segment(seg["id"])
    assert seg["id"] not in {s["id"] for s in admin.list_segments()}


def test_archive_and_revive(admin, names):
    flag, _ = names
    name = flag("archived")
    admin.create_feature(PROJECT, name=name, description="to archive")
    strategy = admin.add_strategy(PROJECT, name, ENV, rollout("planner:all"))
    admin.set_environment_enabled(PROJECT, name, ENV, True)

    admin.archive_feature(PROJECT, name)
    assert name not in {f["name"] for f in admin.list_features(PROJECT)}
    assert name not in admin.read_project_state(PROJECT, ENV).flags
    archived = {f["name"]: f for f in admin.list_archived_features(PROJECT)}
    assert archived[name]["archivedAt"]
    with pytest.raises(UnleashConflict):
        admin.create_feature(PROJECT, name=name, description="name of an archived flag")
    state = admin.read_project_state(PROJECT, ENV, include_archived=True)
    assert state.flags[name].archived is True and state.flags[name].enabled is False

    admin.revive_feature(PROJECT, name)
    assert name in {f["name"] for f in admin.list_features(PROJECT)}
    revived = admin.read_project_state(PROJECT, ENV).flags[name]
    # Revive keeps the strategies but leaves every environment off.
    assert revived.archived is False and revived.enabled is False
    assert [s["id"] for s in revived.strategies] == [strategy["id"]]


def test_enabling_a_flag_without_strategies_makes_the_server_add_one(admin, names):
    """Unleash 8.2 adds a default flexibleRollout 100 % (everyone) when a flag is turned on
    with no strategy, or only disabled ones, in that environment: write strategies first."""
    flag, _ = names
    bare, only_disabled = flag("bare-on"), flag("disabled-on")
    for name in (bare, only_disabled):
        admin.create_feature(PROJECT, name=name, description="turned on too early")
    admin.add_strategy(PROJECT, only_disabled, ENV, dict(rollout("planner:off"), disabled=True))
    writes = admin.writes
    admin.set_environment_enabled(PROJECT, bare, ENV, True)
    admin.set_environment_enabled(PROJECT, only_disabled, ENV, True)
    assert admin.writes == writes + 2

    state = admin.read_project_state(PROJECT, ENV)
    added = state.flags[bare].strategies
    assert [(s["name"], s["parameters"].get("rollout"), s["disabled"]) for s in added] == [("flexibleRollout", "100", False)]
    assert sorted(s["disabled"] for s in state.flags[only_disabled].strategies) == [False, True]


def test_read_project_state_sees_exactly_what_was_written(admin, names):
    flag, segment = names
    seg = admin.create_segment({"name": segment("state"), "description": "planner:state", "constraints": [DEPARTMENT_HR]})
    on, off, bare = flag("state-on"), flag("state-off"), flag("state-bare")
    for name in (on, off, bare):
        admin.create_feature(PROJECT, name=name, description=f"about {name}")
    first = admin.add_strategy(
        PROJECT, on, ENV,
        rollout("planner:hr", percent=25, segments=[seg["id"]], constraints=[DEPARTMENT_HR]),
    )
    second = admin.add_strategy(PROJECT, on, ENV, dict(rollout("planner:all"), disabled=True))
    admin.set_environment_enabled(PROJECT, on, ENV, True)
    third = admin.add_strategy(PROJECT, off, ENV, rollout("planner:late"))

    state = admin.read_project_state(PROJECT, ENV)
    assert (state.project, state.environment) == (PROJECT, ENV)
    assert {on, off, bare} <= set(state.flags)
    assert seg["id"] in {s["id"] for s in state.segments}

    got = state.flags[on]
    assert (got.name, got.description, got.type, got.enabled, got.archived) == (on, f"about {on}", "release", True, False)
    assert [s["id"] for s in got.strategies] == [first["id"], second["id"]]
    hr, everyone = got.strategies
    assert hr["name"] == "flexibleRollout" and hr["title"] == "planner:hr"
    assert hr["parameters"] == {"rollout": "25", "stickiness": "default", "groupId": "plan-pilot"}
    assert hr["segments"] == [seg["id"]]
    assert [(c["contextName"], c["operator"], c["values"]) for c in hr["constraints"]] == [("department", "IN", ["HR"])]
    assert hr["disabled"] is False and everyone["disabled"] is True
    assert isinstance(hr["sortOrder"], int) and hr["variants"] == []

    assert state.flags[off].enabled is False
    assert [s["id"] for s in state.flags[off].strategies] == [third["id"]]
    assert state.flags[bare].strategies == [] and state.flags[bare].enabled is False

    # The same flags read one by one give the same strategies.
    for name in (on, off, bare):
        one = next(e for e in admin.get_feature(PROJECT, name)["environments"] if e["name"] == ENV)
        assert [s["id"] for s in state.flags[name].strategies] == [s["id"] for s in one["strategies"]]
        assert state.flags[name].enabled == one["enabled"]


def test_server_refusals_map_to_errors(admin, names):
    flag, _ = names
    ghost = f"no-such-flag-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UnleashNotFound):
        admin.get_feature(PROJECT, ghost)
    with pytest.raises(UnleashNotFound):  # the server itself answers 200 and does nothing
        admin.revive_feature(PROJECT, ghost)
    with pytest.raises(UnleashNotFound):  # the server lists an unknown project as empty
        admin.read_project_state(f"no-such-project-{uuid.uuid4().hex[:8]}", ENV)
    name = flag("limits")
    admin.create_feature(PROJECT, name=name, description="limits")
    too_many = dict(DEPARTMENT_HR, values=[f"u-{i}" for i in range(251)])
    with pytest.raises(UnleashRefused) as caught:
        admin.add_strategy(PROJECT, name, ENV, rollout("planner:big", constraints=[too_many]))
    assert (caught.value.status, caught.value.error_name) == (400, "ExceedsLimitError")
    assert "limit of 250" in caught.value.server_message


def test_client_token_is_refused_on_the_admin_api_without_leaking_it():
    with UnleashAdmin(URL, CLIENT_TOKEN) as client, pytest.raises(UnleashAuthError) as caught:
        client.list_features(PROJECT)
    assert caught.value.status in (401, 403)
    assert CLIENT_TOKEN not in str(caught.value) and CLIENT_TOKEN not in repr(caught.value)
