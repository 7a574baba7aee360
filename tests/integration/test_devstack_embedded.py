"""A machine without a system PostgreSQL: `devstack.py up` installs the embedded one and runs Unleash on it.

The system's PostgreSQL is hidden as a fresh machine would lack it: as root (CI), in a mount namespace
whose /usr/lib/postgresql is an empty tmpfs, with PATH holding no initdb/pg_ctl/postgres and
DEVSTACK_PG_BIN unset, so devstack finds none on its own; without the rights for that, by
DEVSTACK_SYSTEM_PG=off. The stack is a second one, with its own run directory and free ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.plans import ROOT

pytestmark = pytest.mark.integration

DEVSTACK = ROOT / "scripts" / "devstack.py"
SYSTEM_PG_DIRS = ("/usr/lib/postgresql", "/usr/local/pgsql")
# The env lines of the stack `make test` runs: this stack's Unleash must not see them.
STACK_VARIABLES = ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN", "PLANNER_TEST_DATABASE_URL",
                   "DATABASE_URL", "DEVSTACK_PG_BIN", "DEVSTACK_SYSTEM_PG")


def can_mask_system_dirs() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                          capture_output=True).returncode == 0


def without_system_pg(argv: list[str]) -> list[str]:
    """argv run where the system's PostgreSQL directories are empty (this process's view stays as it is)."""
    mask = " ".join(f'[ -d {d} ] && mount -t tmpfs -o ro,size=4k none {d};' for d in SYSTEM_PG_DIRS)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mask} exec "$@"', "sh", *argv]


def path_without_postgres() -> str:
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not any(os.access(Path(d) / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))]
    return os.pathsep.join(keep)


def test_a_machine_without_postgresql_gets_the_embedded_server_and_unleash_runs_on_it(tmp_path):
    masked = can_mask_system_dirs()
    env = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
    env.update(DEVSTACK_RUN_DIR=str(tmp_path / "run"), UNLEASH_PORT="auto", DEVSTACK_PG_PORT="auto",
               PATH=path_without_postgres())
    if not masked:
        env["DEVSTACK_SYSTEM_PG"] = "off"

    def devstack(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, str(DEVSTACK), *args]
        return subprocess.run(without_system_pg(argv) if masked else argv, env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=180)

    started = time.monotonic()
    up = devstack("up")
    try:
        assert up.returncode == 0, up.stderr
        assert "(PostgreSQL 18.6, embedded, from the venv)" in up.stderr, up.stderr
        lines = dict(line.split("=", 1) for line in up.stdout.splitlines())

        # The planner's test database on the embedded server, as the tests reach it
        url = lines["PLANNER_TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=10) as conn:
            assert conn.execute("SHOW server_version").fetchone()[0].startswith("18.")
            assert conn.execute("SELECT current_database()").fetchone()[0] == "planner_test"
            conn.execute("CREATE TABLE reached (id int)")

        # Unleash 8.2 on it: migrated, and it takes the admin token devstack seeded
        response = httpx.get(lines["UNLEASH_URL"] + "/admin/projects", timeout=10,
                             headers={"Authorization": lines["UNLEASH_ADMIN_TOKEN"]})
        assert response.status_code == 200, response.text
        assert "default" in {p["id"] for p in response.json()["projects"]}
        with psycopg.connect(url.rsplit("/", 1)[0] + "/unleash", connect_timeout=10) as conn:
            assert conn.execute("SELECT count(*) FROM migrations").fetchone()[0] > 100
    finally:
        down = devstack("down", "--purge")
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "run").exists()
    print(f"embedded stack up, checked and purged in {time.monotonic() - started:.1f} s "
          f"(system PostgreSQL hidden by {'a mount namespace' if masked else 'DEVSTACK_SYSTEM_PG=off'})")
