"""Applying plans to the database: idempotent, all-or-nothing, audited; the schema comes from migrations."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from planner.audit import entries
from planner.db import engine_for, session_scope
from planner.model import Feature
from planner.plans import apply_plan, list_plans
from planner.store import load_plan
from planner.tables import CohortUserRow, FeatureRow
from tests.plans import demo_plan


def test_migrations_create_exactly_the_models_schema(database_url):
    with engine_for(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_apply_stores_the_plan_and_reads_it_back_equal(database_url):
    plan = demo_plan()
    with session_scope(database_url) as session:
        result = apply_plan(session=session, plan=plan, actor="lead")
    assert result.created and result.changed and result.version == 1
    with session_scope(database_url) as session:
        assert load_plan(session, plan.key) == plan


def test_applying_the_same_plan_twice_changes_nothing(database_url):
    plan = demo_plan()
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="lead")
    with session_scope(database_url) as session:
        ids = [f.id for f in session.exec(select(FeatureRow))]
        result = apply_plan(session=session, plan=plan, actor="lead")
        assert not result.changed and result.version == 1
    with session_scope(database_url) as session:
        assert [f.id for f in session.exec(select(FeatureRow))] == ids
        assert len(entries(session)) == 1


def test_changes_keep_row_ids_of_unchanged_keys_and_are_audited(database_url):
    plan = demo_plan()
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=plan, actor="lead")
        wiki_id = session.exec(select(FeatureRow).where(FeatureRow.key == "wiki")).one().id
    changed = plan.model_copy(update={"features": plan.features[1:] + (Feature(key="forum", name="Forum"),)})
    with session_scope(database_url) as session:
        result = apply_plan(session=session, plan=changed, actor="lead")
    assert "removed feature 'innovation-blog'" in result.changes and "added feature 'forum'" in result.changes
    with session_scope(database_url) as session:
        assert session.exec(select(FeatureRow).where(FeatureRow.key == "wiki")).one().id == wiki_id
        assert load_plan(session, plan.key) == changed
        latest = entries(session)[0].summary
        assert "removed feature 'innovation-blog'" in latest and "added feature 'forum'" in latest
        assert [p.key for p in list_plans(session=session)] == [plan.key]


def test_a_failed_apply_leaves_nothing_half_written(database_url):
    plan = demo_plan()
    try:
        with session_scope(database_url) as session:
            apply_plan(session=session, plan=plan, actor="lead")
            raise RuntimeError("killed mid-apply")
    except RuntimeError:
        pass
    with session_scope(database_url) as session:
        assert load_plan(session, plan.key) is None
        assert session.exec(select(CohortUserRow)).all() == []


def test_postgres_stores_the_same_plan(postgres_url):
    plan = demo_plan()
    with session_scope(postgres_url) as session:
        apply_plan(session=session, plan=plan, actor="lead")
    with session_scope(postgres_url) as session:
        assert load_plan(session, plan.key) == plan
        assert not apply_plan(session=session, plan=plan, actor="lead").changed


def test_the_plan_cache_never_serves_another_database_or_a_plan_made_again(tmp_path):
    """Plans are cached per version; the same key at version 1 in another database, or deleted and made
    again in the same one, is read afresh."""
    from planner import migrate
    from planner.store import plan_row, read_plan_cached
    from planner.tables import PlanRow

    def cached(url):
        with session_scope(url) as session:
            return read_plan_cached(session, plan_row(session, "intranet-rollout"))

    first, second = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    plan = demo_plan()
    other = plan.model_copy(update={"title": "Another rollout"})
    for url, content in ((first, plan), (second, other)):
        migrate.upgrade(url)
        with session_scope(url) as session:
            apply_plan(session=session, plan=content, actor="lead")
    assert cached(first).title == plan.title and cached(second).title == "Another rollout"
    with session_scope(first) as session:
        session.delete(session.exec(select(PlanRow).where(PlanRow.key == plan.key)).one())
    with session_scope(first) as session:
        assert apply_plan(session=session, plan=other, actor="lead").version == 1
    assert cached(first).title == "Another rollout"
