"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when configured)."""

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from planner import migrate


@pytest.fixture
def database_url(tmp_path):
    """A fresh, migrated SQLite database file."""
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def postgres_url():
    """A fresh, migrated PostgreSQL database on the private test cluster (`make unleash` starts it)."""
    base = os.environ.get("PLANNER_TEST_DATABASE_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("PLANNER_TEST_DATABASE_URL is not set; run the tests with `make test`")
        pytest.skip("PLANNER_TEST_DATABASE_URL is not set (run `make unleash`)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    yield url
    from planner.db import engine_for

    engine_for(url).dispose()
    engine_for.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def each_database_url(request):
    """The same test on SQLite (the embedded default) and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("database_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session", autouse=True)
def unleash_left_clean():
    """Plans the tests sync are taken out of the real Unleash before and after the run."""
    names = ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN")
    if not all(os.environ.get(n) for n in names):
        yield
        return
    from tests.integration.unleash import remove_test_plans
    from flags.admin import UnleashAdmin

    with UnleashAdmin(os.environ["UNLEASH_URL"], os.environ["UNLEASH_ADMIN_TOKEN"]) as admin:
        if admin.health():
            remove_test_plans(admin)
    yield
    if os.environ.get("DEVSTACK_THROWAWAY") == "1":  # .ci/run deletes the whole stack next: ~45 s saved
        return
    with UnleashAdmin(os.environ["UNLEASH_URL"], os.environ["UNLEASH_ADMIN_TOKEN"]) as admin:
        if admin.health():
            remove_test_plans(admin)
