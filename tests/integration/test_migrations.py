"""The migrations on SQLite and on PostgreSQL (what pytest-alembic checks, written out): empty to head gives
exactly the models' schema, every migration goes down and up again, and rows written at the revision before
the newest survive the newest one."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from planner import migrate
from planner.db import engine_for
from planner.store import load_plan
from planner.db import session_scope
from tests.conftest import fresh_postgres

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """An empty database (no tables) of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with fresh_postgres(migrated=False) as url:
        yield url


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def schema_diff(url: str) -> list:
    with engine_for(url).connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)


def test_empty_to_head_gives_exactly_the_models_schema(empty_url):
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head()
    assert schema_diff(empty_url) == []


def test_every_migration_goes_down_and_up_again(empty_url):
    config = migrate.alembic_config(empty_url)
    command.upgrade(config, "head")
    chain = revisions()
    for revision in reversed(chain):  # down one at a time to nothing
        command.downgrade(config, "-1")
        below = chain.index(revision) - 1
        assert migrate.current(empty_url) == (chain[below] if below >= 0 else None)
    command.upgrade(config, "head")
    assert schema_diff(empty_url) == []


def test_rows_written_before_the_newest_migration_survive_it(empty_url):
    """A plan stored at the revision before the newest (0009) is read back whole after 0010, its cohort's
    interests text turned into a list."""
    config = migrate.alembic_config(empty_url)
    command.upgrade(config, "0009")
    with create_engine(empty_url).begin() as conn:
        conn.execute(text(
            "INSERT INTO plan (key, title, goal, flag_prefix, currency, guidelines_version, guidelines_text, "
            "guidelines_pause, project, environment, archived, version, created_at, updated_at, sync_mode, "
            "four_eyes, sync_state, sync_state_detail, pending_changes) VALUES ('kept', 'Kept plan', 'a goal', '', "
            "'EUR', 1, '', false, 'default', 'development', false, 1, '2026-11-01 08:00:00', "
            "'2026-11-01 08:00:00', 'auto', false, '', '', 0)"))
        plan_id = conn.execute(text("SELECT id FROM plan WHERE key = 'kept'")).scalar()
        conn.execute(text(
            "INSERT INTO cohort (plan_id, key, name, kind, description, interests, needs, rules, position, "
            f"membership_version, pushed_version) VALUES ({plan_id}, 'hr', 'HR', 'everyone', '', "
            "'Onboarding wiki; internal job posts', 'Clear rules', '[]', 0, 0, 0)"))
        conn.execute(text(
            "INSERT INTO feature (plan_id, key, name, description, position) VALUES "
            f"({plan_id}, 'wiki', 'Wiki', '', 0)"))
    command.upgrade(config, "head")
    with session_scope(empty_url) as session:
        plan = load_plan(session, "kept")
    assert plan.title == "Kept plan" and plan.goal == "a goal"
    assert plan.cohort("hr").interests == ("Onboarding wiki", "internal job posts")
    assert plan.cohort("hr").needs == "Clear rules" and plan.feature("wiki").serves == ()
    command.downgrade(config, "0009")  # and back: the list is text again
    with create_engine(empty_url).connect() as conn:
        assert conn.execute(text("SELECT interests FROM cohort")).scalar() == "Onboarding wiki; internal job posts"
