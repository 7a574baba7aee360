"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when configured); and at the
end of the run, the secrets check: no log the run wrote holds a configured token or secret."""

import logging
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from planner import migrate


SECOND_PASS = os.environ.get("PLANNER_TEST_DB") == "postgresql"  # `make test`'s pass on PostgreSQL


@pytest.fixture
def database_url(tmp_path, request):
    """A fresh, migrated database: an SQLite file, or with PLANNER_TEST_DB=postgresql (the second pass of
    `make test`) a database of its own on the private PostgreSQL cluster."""
    if SECOND_PASS:
        return request.getfixturevalue("postgres_url")
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    migrate.upgrade(url)
    return url


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass skips what only means something on SQLite (its file, its locking), what does not
    depend on the database at all (the API schema checks), and what already ran on PostgreSQL in the first
    pass (tests that ask for both databases, or for PostgreSQL, themselves)."""
    if not SECOND_PASS:
        return
    sqlite = pytest.mark.skip(reason="SQLite only: this pass runs on PostgreSQL")
    once = pytest.mark.skip(reason="the same on any database: the first pass ran it")
    ran = pytest.mark.skip(reason="asks for PostgreSQL itself: it ran on it in the first pass")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(sqlite)
        elif "one_pass" in item.keywords:
            item.add_marker(once)
        elif {"each_database_url", "postgres_url"} & set(item.fixturenames):
            item.add_marker(ran)


@contextmanager
def fresh_postgres(*, migrated: bool = True):
    """A database of its own on the private test cluster (`make unleash` starts it), migrated or empty, dropped
    afterwards."""
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
    if migrated:
        migrate.upgrade(url)
    try:
        yield url
    finally:
        from planner.db import engine_for

        engine_for(url).dispose()
        engine_for.cache_clear()
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin, name: str) -> None:
    """DROP … WITH (FORCE) ends our own sessions, but is refused while an autovacuum worker (the superuser's)
    works on the new database: that takes a moment, so try again; a database left on the throwaway test
    cluster after that harms nothing, and is said."""
    from sqlalchemy.exc import DBAPIError

    for _attempt in range(40):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            time.sleep(0.25)
    warnings.warn(f"the test database {name} could not be dropped (left on the test cluster)", stacklevel=2)


@pytest.fixture
def postgres_url():
    """A fresh, migrated PostgreSQL database on the private test cluster."""
    with fresh_postgres() as url:
        yield url


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


# -- the secrets check ------------------------------------------------------------------------------------------
PLATFORM_TOKEN = re.compile(rb"rp_[A-Za-z0-9_-]{43}")  # any platform token (the tests make many)
_LOGS: dict[str, Path] = {}


def pytest_configure(config):
    """Every log line of this process goes to a file too, and `planner serve` processes log into a folder."""
    folder = Path(tempfile.mkdtemp(prefix="planner-test-logs-"))
    os.environ["PLANNER_TEST_LOG_DIR"] = str(folder)
    handler = logging.FileHandler(folder / "pytest-process.log", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))  # the planner's INFO lines (one per request, sync, round) too
    _LOGS["folder"] = folder


def _secrets() -> list[bytes]:
    names = ("UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN", "PLANNER_SESSION_SECRET")
    return [os.environ[n].encode() for n in names if len(os.environ.get(n, "")) >= 12]


def leaks(paths) -> list[str]:
    """Where a configured token or secret, or any platform token, appears in the files `paths`."""
    found = []
    secrets_ = _secrets()
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        for secret in secrets_:
            if secret in data:
                found.append(f"{path}: a configured secret ({secret[:4].decode()}…)")
        match = PLATFORM_TOKEN.search(data)
        if match:
            found.append(f"{path}: a platform token ({match.group()[:6].decode()}…)")
    return found


def pytest_sessionfinish(session, exitstatus):
    """The run's logs (this process's, every `planner serve` and the browser tests' servers, Unleash's) must
    hold no configured admin token, client token or session secret, and no platform token."""
    folder = _LOGS.get("folder")
    if folder is None:
        return
    logging.shutdown()
    paths = list(folder.glob("*.log"))
    try:
        paths += list(session.config._tmp_path_factory.getbasetemp().rglob("*.log"))
    except Exception:  # noqa: BLE001 - no temporary folder made in this run
        pass
    paths += [p for p in (Path(".run") / "unleash.log",) if p.exists()]
    found = leaks(paths)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        if reporter:
            reporter.write_line("SECRETS IN LOGS:\n  " + "\n  ".join(found), red=True)
        session.exitstatus = 1
    else:
        if reporter:
            reporter.write_line(f"secrets check: {len(paths)} log file(s) of this run, no token or secret in them")
        shutil.rmtree(folder, ignore_errors=True)
