"""A PostgreSQL server of a test's own, for what the shared test cluster cannot take: being restarted (Unleash
and every other test use that one). It is scripts/devstack.py's cluster, made in a run directory of the test's
on a free port, with the binaries `make unleash` found (the system's 15+, else the embedded ones)."""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tests.plans import ROOT


def _devstack(run_dir: Path) -> ModuleType:
    """A fresh import of scripts/devstack.py whose state (cluster, ports) lives in run_dir: it reads both
    settings when it is imported."""
    run_dir.mkdir(parents=True, exist_ok=True)  # as `up` makes it first (its lock): where the cluster goes depends on it
    settings = {"DEVSTACK_RUN_DIR": str(run_dir), "DEVSTACK_PG_PORT": "auto"}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        spec = importlib.util.spec_from_file_location(f"devstack_{run_dir.name}", ROOT / "scripts" / "devstack.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Server:
    url: str  # the app role's URL of its planner_test database
    _postgres: object

    def restart(self, *, down_for: float) -> None:
        """Stop the server as an administrator does (fast: every session is ended), keep it down for
        `down_for` seconds (connections refused), and start it again."""
        self._postgres.stop()
        time.sleep(down_for)
        self._postgres.start()


@contextmanager
def own_postgres(run_dir: Path) -> Iterator[Server]:
    devstack = _devstack(run_dir)
    postgres = devstack.Postgres(devstack.find_pg_bin())
    password = secrets.token_hex(16)
    try:
        postgres.ensure_cluster(password)
        postgres.start()
        postgres.ensure_databases(password)
        yield Server(f"postgresql+psycopg://{devstack.PG_APP_USER}:{password}@{devstack.HOST}:{devstack.PG_PORT}"
                     "/planner_test", postgres)
    finally:
        postgres.stop()
        devstack._purge_cluster_dir()
        sys.modules.pop(devstack.__name__, None)
