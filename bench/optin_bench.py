"""Opt-in load benchmark (issue 4) against the real Unleash (`make unleash`) and a real `planner serve`.

2,000 distinct users open /pilot (session cookie + CSRF token) and join the `pilot` cohort through the
JSON API, from 50 concurrent clients paced at 40 users/s (all joins requested within ~50 s). Meanwhile the
client API (what the SDKs see) is polled every 200 ms to record when each user becomes visible in the
plan's `rp:<plan>:pilot:<n>` segments. Reports join latency, Admin API writes (from /health), the delay
from a user's join to their visibility, and checks the server's database; exits 1 when a target fails:

    join p99 < 250 ms;  every opt-in visible within 5 s;  < 1 Admin API write per 20 opt-ins.

Run: `make bench-optin` (or with the UNLEASH_* lines in the environment:
`.venv/bin/python bench/optin_bench.py [--push-interval 1.0] [--users 2000] [--clients 50] [--rate 40]
[--database sqlite|postgresql] [--workers N]`; `make bench-optin BENCH_ARGS="--database postgresql"`).
The plan, its flags and segments are unique per run and archived / deleted afterwards; so is the database.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import re
import resource
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "intranet-rollout.yaml"
BIN = Path(sys.executable).parent
CSRF = re.compile(r'"X-CSRF-Token":\s*"([^"]+)"')
TARGET_P99_MS, TARGET_VISIBLE_S, TARGET_OPTINS_PER_WRITE = 250.0, 5.0, 20
POLL_SECONDS, GRACE_SECONDS = 0.2, 60.0


def log(message: str) -> None:
    print(f"[optin-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p100 = max); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_cpu_seconds(pid: int) -> float | None:
    """cpu_seconds of a process and all its descendants (the workers of `planner serve --workers`)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    times = [cpu_seconds(p) for p in tree]
    return None if times[0] is None and len(times) == 1 else sum(t or 0 for t in times)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), for the report."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def planner(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(BIN / "planner"), *args], check=False, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"planner {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def bench_plan_yaml(key: str, capacity: int) -> str:
    """The demo plan under a unique key and flag prefix, its pilot open for `capacity` people."""
    text = DEMO.read_text(encoding="utf-8")
    text = text.replace("plan: intranet-rollout", f"plan: {key}\nflag_prefix: {key}-", 1)
    text, n = re.subn(r"(\n    kind: opt_in\n    capacity: )\d+", rf"\g<1>{capacity}", text, count=1)
    if n != 1 or "environment: development" not in text:
        raise RuntimeError(f"{DEMO} no longer has the expected pilot cohort / development binding")
    return text


# ---------------------------------------------------------------------------------------------- load


@dataclass
class UserResult:
    user: str
    status: int | None = None  # the join's HTTP status (None: no answer)
    membership: str | None = None
    latency: float | None = None  # the join POST, seconds
    sent: float | None = None  # monotonic time the join POST was sent
    completed: float | None = None  # monotonic time the join's answer arrived
    error: str | None = None


def one_user(client: httpx.Client, base: str, plan_key: str, result: UserResult) -> None:
    client.cookies.clear()  # every user has a session of their own
    who = {"X-Forwarded-User": result.user}
    try:
        page = client.get(f"{base}/pilot", headers={**who, "Accept": "text/html"})
        if page.status_code != 200:
            result.status, result.error = page.status_code, f"GET /pilot answered {page.status_code}"
            return
        found = CSRF.search(page.text)
        if not found:
            result.error = "no CSRF token on /pilot"
            return
        began = result.sent = time.monotonic()
        answer = client.post(f"{base}/api/pilot/{plan_key}/pilot/join", json={"accept_guidelines_version": 1},
                             headers={**who, "X-CSRF-Token": found.group(1)})
        result.completed = time.monotonic()
        result.latency = result.completed - began
        result.status = answer.status_code
        if answer.is_success:
            result.membership = answer.json().get("status")
        else:
            result.error = answer.text[:200]
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"


def run_load(base: str, plan_key: str, users: list[str], clients: int, rate: float) -> tuple[list[UserResult], float]:
    """`clients` threads, each with its own keep-alive connection; user i starts at t0 + i / rate."""
    results = [UserResult(u) for u in users]
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(users)):
        todo.put(i)
    # The clients are made before the clock starts, sharing one TLS context: httpx loads the CA bundle
    # for each new client (~50 ms of CPU under this process's GIL), and 50 of them inside the measured
    # window would delay this process's own reading of the answers, not the server's.
    tls = ssl.create_default_context()
    pool = [httpx.Client(timeout=30.0, verify=tls) for _ in range(clients)]
    t0 = time.monotonic() + 0.5

    def worker(client: httpx.Client) -> None:
        with client:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                one_user(client, base, plan_key, results[i])

    threads = [threading.Thread(target=worker, args=(client,), name=f"client-{n}", daemon=True)
               for n, client in enumerate(pool)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=len(users) / rate + 180)
    return results, t0


# ---------------------------------------------------------------------------------------- visibility


@dataclass
class Watcher:
    """Polls the client API and records when each user first shows up in a pilot segment of the plan that
    one of the plan's flags uses (what an SDK would evaluate)."""

    url: str
    token: str
    plan_key: str
    expected: set[str]
    first_seen: dict[str, float] = field(default_factory=dict)
    polls: int = 0
    errors: int = 0
    poll_seconds: list[float] = field(default_factory=list)
    stop_at: float | None = None  # set once all joins are done: stop this long after the last one
    _halt: threading.Event = field(default_factory=threading.Event)

    def visible_now(self, payload: dict) -> set[str]:
        prefix = f"rp:{self.plan_key}:pilot:"
        segments = {s["id"]: s for s in payload.get("segments", []) if s.get("name", "").startswith(prefix)}
        used = {sid for f in payload.get("features", []) if f.get("name", "").startswith(f"{self.plan_key}-")
                for strategy in f.get("strategies", []) for sid in strategy.get("segments", [])}
        users: set[str] = set()
        for sid, segment in segments.items():
            if sid in used:
                for c in segment.get("constraints", []):
                    if c.get("contextName") == "userId" and c.get("operator") == "IN":
                        users.update(c.get("values", []))
        return users

    def run(self) -> None:
        headers = {"Authorization": self.token, "Unleash-Client-Spec": "5.1.0"}
        with httpx.Client(timeout=10.0, headers=headers) as client:
            while not self._halt.is_set():
                began = time.monotonic()
                try:
                    response = client.get(self.url.rstrip("/") + "/client/features")
                    response.raise_for_status()
                    seen = time.monotonic()
                    for user in self.visible_now(response.json()) & self.expected:
                        self.first_seen.setdefault(user, seen)
                    self.polls += 1
                    self.poll_seconds.append(seen - began)
                except (httpx.HTTPError, ValueError):
                    self.errors += 1
                now = time.monotonic()
                if len(self.first_seen) == len(self.expected) or (self.stop_at is not None and now > self.stop_at):
                    return
                self._halt.wait(max(0.0, POLL_SECONDS - (now - began)))

    def halt(self) -> None:
        self._halt.set()


# -------------------------------------------------------------------------------------------- server


def health(client: httpx.Client, base: str) -> dict:
    response = client.get(f"{base}/health", timeout=30)
    response.raise_for_status()
    return response.json()


COUNTERS = (("opt_in_push", ("plans_pushed", "segment_writes", "other_writes", "admin_writes")),
            ("opt_in_writes", ("joins", "batches", "retried_one_by_one")))


def health_of_all(base: str, workers: int, timeout: float = 30) -> dict:
    """/health of every server process, on new connections (the kernel hands them to the workers in turn) until
    every process has answered. Its counters are all workers' already (`counters_of`); a server from before that
    gave each process's own, which are summed here."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {workers} server processes answered /health")
        with httpx.Client() as client:
            data = health(client, base)
        seen[data["process"]] = data
    total = dict(max(seen.values(), key=lambda d: d.get("opt_in_writes", {}).get("joins", 0)))
    if total.get("counters_of") != "all workers":
        for section, names in COUNTERS:
            total[section] = {name: sum(d[section][name] for d in seen.values()) for name in names}
    total["processes"] = sorted(seen)
    return total


def wait_healthy(base: str, server: subprocess.Popen, workers: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"planner serve exited with {server.returncode}")
        try:
            data = health_of_all(base, workers, timeout=max(1.0, deadline - time.monotonic()))
            if data.get("status") == "ok" and "opt_in_push" in data:
                return data
        except (httpx.HTTPError, RuntimeError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"planner serve did not become healthy within {timeout:.0f} s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the lifespan stops the pusher
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def scraped_opt_ins(base: str, plan_key: str, scrapes: int = 6) -> dict:
    """/metrics on new connections (so every worker answers some): the joins counted by all workers and the
    members the database holds, as each scrape saw them. One sum, whichever worker answers."""
    from prometheus_client.parser import text_string_to_metric_families

    seen = []
    for _ in range(scrapes):
        text = httpx.get(f"{base}/metrics", timeout=30).text
        found = {"joins_counted": 0.0, "members_gauge": None}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "planner_opt_ins_total" and sample.labels.get("outcome") == "member":
                    found["joins_counted"] = sample.value
                elif sample.name == "planner_opt_in_members" and sample.labels == {"plan": plan_key, "cohort": "pilot"}:
                    found["members_gauge"] = sample.value
        seen.append(found)
    return {"scrapes": len(seen), "joins_counted": sorted({s["joins_counted"] for s in seen}),
            "members_gauge": sorted({s["members_gauge"] for s in seen}, key=str),
            "consistent": len({tuple(s.values()) for s in seen}) == 1}


def membership_check(url: str, plan_key: str, expected: set[str]) -> dict:
    with _engine(url).connect() as con:
        rows = con.execute(text(
            "SELECT m.user_id, m.status FROM membership m JOIN cohort c ON m.cohort_id = c.id "
            "JOIN plan p ON c.plan_id = p.id WHERE p.key = :key AND c.key = 'pilot'"), {"key": plan_key}).all()
    users = [u for u, _ in rows]
    statuses: dict[str, int] = {}
    for _, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    ok = (len(rows) == len(expected) and statuses == {"member": len(expected)} and len(set(users)) == len(users)
          and set(users) == expected)
    return {"rows": len(rows), "statuses": statuses, "distinct_users": len(set(users)),
            "missing": len(expected - set(users)), "unexpected": len(set(users) - expected), "ok": ok}


def pusher_syncs(url: str, plan_key: str) -> dict:
    """The full syncs the pusher fell back to (a segment more or less), from the server's sync_run table:
    how long each took and what it wrote."""
    from datetime import datetime

    def when(value) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    with _engine(url).connect() as con:
        rows = con.execute(text(
            "SELECT r.started_at, r.finished_at, r.writes, r.state, r.changes, r.error FROM sync_run r "
            "JOIN plan p ON r.plan_id = p.id WHERE p.key = :key AND r.actor = 'opt-in' ORDER BY r.id"),
            {"key": plan_key}).all()
    runs = []
    for started, finished, writes, outcome, changes, error in rows:
        kinds: dict[str, int] = {}
        for change in (json.loads(changes or "[]") if isinstance(changes, str) else changes or []):
            what = f"{change.get('action')} {change.get('kind')}"
            kinds[what] = kinds.get(what, 0) + 1
        seconds = (when(finished) - when(started)).total_seconds() if finished else None
        runs.append({"seconds": None if seconds is None else round(seconds, 2), "writes": writes,
                     "outcome": outcome, "changes": kinds, **({"error": error[:160]} if error else {})})
    return {"count": len(runs), "seconds_total": round(sum(r["seconds"] or 0 for r in runs), 1), "runs": runs}


def _engine(url: str):
    from planner.db import engine_for

    return engine_for(url)


@contextmanager
def bench_database(kind: str, tmp: Path, key: str) -> Iterator[str]:
    """An empty database for one run: a SQLite file (what `planner serve` uses by default), or a database
    of its own on the PostgreSQL server of `make unleash`, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = os.environ.get("PLANNER_TEST_DATABASE_URL")
    if not server:
        sys.exit("--database postgresql needs PLANNER_TEST_DATABASE_URL (run `make bench-optin`)")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(text(f'CREATE DATABASE "{key}"'))
    url = make_url(server).set(database=key).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        _engine(url).dispose()  # this process's connections; the server's are gone with it
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{key}" WITH (FORCE)'))
        admin.dispose()


def preflight_segments(admin, needed: int, wait: float = 120.0) -> dict:
    """Unleash caps segments server-wide (other plans' and tests' count too): wait a little for room, then
    say so plainly instead of failing halfway through the load."""
    limit = admin.resource_limits().segments
    deadline = time.monotonic() + wait
    while True:
        used = len(admin.list_segments())
        if used + needed <= limit:
            return {"in_use_before": used, "limit": limit, "needed": needed}
        if time.monotonic() > deadline:
            sys.exit(f"Unleash has {used} of its {limit} segments in use; this benchmark needs {needed} more. "
                     "Delete leftover segments of test plans (rp:<plan>:...) first.")
        log(f"Unleash has {used} of its {limit} segments in use, {needed} needed: waiting for room")
        time.sleep(5)


def cleanup(url: str, key: str, admin) -> dict:
    """An empty plan under the same key archives every flag and deletes every segment of the benchmark."""
    from planner.db import session_scope
    from planner.model import Plan, UnleashBinding
    from planner.plans import apply_plan
    from services.sync import sync_plan

    with session_scope(url) as session:
        apply_plan(session=session, plan=Plan(plan=key, flag_prefix=f"{key}-",
                                              unleash=UnleashBinding(environment="development")), actor="bench")
    result = sync_plan(database_url=url, plan_key=key, admin=admin, actor="bench")
    return {"outcome": result.outcome, "writes": result.writes, "error": result.error}


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=40.0, help="users started per second")
    parser.add_argument("--push-interval", type=float, default=1.0, help="PLANNER_PUSH_INTERVAL of the server")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="the server's database: a SQLite file (the default of `planner serve`) or a database "
                             "of its own on the PostgreSQL of `make unleash`")
    parser.add_argument("--workers", type=int, default=1, help="server processes (`planner serve --workers`)")
    parser.add_argument("--json-out", type=Path, help="also write the report here")
    args = parser.parse_args()

    names = ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN")
    if not all(os.environ.get(n) for n in names):
        sys.exit("no Unleash configured: run `make bench-optin` (or export the lines of .run/unleash.env)")
    from flags.admin import UnleashAdmin

    admin = UnleashAdmin(os.environ["UNLEASH_URL"], os.environ["UNLEASH_ADMIN_TOKEN"])
    limits = admin.resource_limits()  # constraint_values, segment_values, segments (server-wide)
    pilot_segments = math.ceil(args.users / min(limits.constraint_values, limits.segment_values))
    key = f"optin{uuid.uuid4().hex[:6]}"
    users = [f"bench-u-{i:04d}" for i in range(args.users)]
    expected = set(users)
    report: dict = {"plan": key, "database": args.database, "workers": args.workers, "users": args.users,
                    "clients": args.clients, "pace_per_s": args.rate, "push_interval_s": args.push_interval, "load_average_before": os.getloadavg()[0],
                    "segments": preflight_segments(admin, pilot_segments + 3)}  # + champions, hr, sales-quarter
    server_log = Path(tempfile.gettempdir()) / f"optin-bench-{key}-server.log"

    with (tempfile.TemporaryDirectory(prefix="optin-bench-") as tmp,
          bench_database(args.database, Path(tmp), key) as url):
        env = {**os.environ, "PLANNER_DATABASE_URL": url, "PLANNER_SESSION_SECRET": secrets.token_urlsafe(32),
               "PLANNER_PUSH_INTERVAL": str(args.push_interval), "PLANNER_DEV_LOGIN": "false",
               # plain http on loopback: a Secure session cookie (the default without the development sign-in)
               # would never come back, and every join would fail its CSRF check (403)
               "PLANNER_SECURE_COOKIES": "false"}
        plan_file = Path(tmp) / "plan.yaml"
        plan_file.write_text(bench_plan_yaml(key, capacity=max(5000, args.users)), encoding="utf-8")
        server = watcher = None
        failed_setup = None
        try:
            planner("db", "upgrade", env=env)
            planner("plan", "apply", str(plan_file), "--actor", "bench", env=env)
            planner("sync", key, "--actor", "bench", env=env)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with server_log.open("w") as out:
                server = subprocess.Popen([str(BIN / "planner"), "serve", "--host", "127.0.0.1", "--port", str(port),
                                           "--workers", str(args.workers)],
                                          env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            before = wait_healthy(base, server, args.workers)
            log(f"plan {key}: serving on {base}, push interval {args.push_interval} s; "
                f"{args.users} users from {args.clients} clients at {args.rate:.0f}/s")

            watcher = Watcher(os.environ["UNLEASH_URL"], os.environ["UNLEASH_CLIENT_TOKEN"], key, expected)
            watching = threading.Thread(target=watcher.run, name="watcher", daemon=True)
            watching.start()
            cpu_server, cpu_self = tree_cpu_seconds(server.pid), resource.getrusage(resource.RUSAGE_SELF)
            results, t0 = run_load(base, key, users, args.clients, args.rate)
            cpu_server_load = (tree_cpu_seconds(server.pid) or 0) - (cpu_server or 0)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu_self_load = usage.ru_utime + usage.ru_stime - cpu_self.ru_utime - cpu_self.ru_stime
            done = [r.completed for r in results if r.completed is not None]
            last_join = max(done) if done else time.monotonic()
            watcher.stop_at = last_join + GRACE_SECONDS
            log(f"joins done in {last_join - t0:.1f} s; waiting for visibility (at most {GRACE_SECONDS:.0f} s)")
            watching.join(timeout=GRACE_SECONDS + 30)
            watcher.halt()
            # one push round more, so the writes of a round still running count too
            time.sleep(2 * args.push_interval + 1)
            after = health_of_all(base, args.workers)
            scraped = scraped_opt_ins(base, key)
        except Exception as exc:  # noqa: BLE001 - clean up whatever was set up, then say what failed
            failed_setup = f"{type(exc).__name__}: {exc}"
        finally:
            if watcher is not None:
                watcher.halt()
            if server is not None:
                stop(server)
        try:
            if failed_setup is None:
                report.update(summarise(results, t0, last_join, watcher, before, after))
                report["cpu_seconds_during_load"] = {"server": round(cpu_server_load, 1),
                                                     "bench_client": round(cpu_self_load, 1),
                                                     "wall": round(last_join - t0, 1)}
                report["load_average_after"] = os.getloadavg()[0]
                report["membership"] = membership_check(url, key, expected)
                members = report["membership"]["statuses"].get("member", 0)
                report["metrics"] = {**scraped, "members_stored": members,
                                     "equal": scraped["consistent"] and scraped["joins_counted"] == [members]
                                     and scraped["members_gauge"] == [members]}
                report["pusher_full_syncs"] = pusher_syncs(url, key)
        finally:
            try:
                report["cleanup"] = cleanup(url, key, admin)
            except Exception as exc:  # noqa: BLE001
                report["cleanup"] = {"outcome": "failed", "error": f"{type(exc).__name__}: {exc}"}
            admin.close()
    report["server_log"] = str(server_log)
    if failed_setup is not None:
        report["error"] = failed_setup
        print(json.dumps(report, indent=2))
        return 2

    verdicts = judge(report)
    report["targets"] = verdicts
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n", encoding="utf-8")
    for name, verdict in verdicts.items():
        print(f"{'PASS' if verdict['pass'] else 'FAIL'}  {name}: {verdict['detail']}")
    return 0 if all(v["pass"] for v in verdicts.values()) else 1


def summarise(results: list[UserResult], t0: float, last_join: float, watcher: Watcher, before: dict,
              after: dict) -> dict:
    ok = [r for r in results if r.status is not None and 200 <= r.status < 300]
    last_sent = max((r.sent for r in results if r.sent), default=t0)
    latencies = [r.latency for r in results if r.latency is not None]
    errors: dict[str, int] = {}
    for r in results:
        if r not in ok:
            label = str(r.status) if r.status is not None else (r.error or "no answer")[:80]
            errors[label] = errors.get(label, 0) + 1
    memberships: dict[str, int] = {}
    for r in ok:
        memberships[r.membership or "?"] = memberships.get(r.membership or "?", 0) + 1
    delays = [watcher.first_seen[r.user] - r.completed for r in ok if r.user in watcher.first_seen]
    not_visible = [r.user for r in ok if r.user not in watcher.first_seen]
    push_before, push_after = before["opt_in_push"], after["opt_in_push"]
    writes = push_after["admin_writes"] - push_before["admin_writes"]
    last_visible = max(watcher.first_seen.values()) if watcher.first_seen else None
    return {
        "joins": {
            "requested": len(results), "ok_2xx": len(ok), "non_2xx": len(results) - len(ok), "errors": errors,
            "statuses": memberships,
            "duration_s": round(last_join - t0, 2),
            "last_join_sent_at_s": round(last_sent - t0, 2),
            "pace_held": last_sent - t0 <= 60.0,  # all joins requested within 60 s (else the server fell behind)
            "throughput_per_s": round(len(ok) / (last_join - t0), 1) if last_join > t0 else None,
            "latency_ms": {"p50": ms(percentile(latencies, 50)), "p95": ms(percentile(latencies, 95)),
                           "p99": ms(percentile(latencies, 99)), "max": ms(percentile(latencies, 100))},
            # when the slowest joins happened (s since the load began) and how slow: clustered or spread out?
            "slowest": [[round(r.completed - t0, 1), ms(r.latency)] for r in
                        sorted((r for r in results if r.latency is not None), key=lambda r: -r.latency)[:25]],
        },
        "database_writes": {  # the server's opt-in writer: how many joins each transaction carried
            "joins": after["opt_in_writes"]["joins"] - before["opt_in_writes"]["joins"],
            "transactions": after["opt_in_writes"]["batches"] - before["opt_in_writes"]["batches"],
            "retried_one_by_one": after["opt_in_writes"]["retried_one_by_one"],
        },
        "admin_writes": {
            "total": writes,
            "segment_writes": push_after["segment_writes"] - push_before["segment_writes"],
            "other_writes": push_after["other_writes"] - push_before["other_writes"],
            "push_rounds_with_changes": push_after["plans_pushed"] - push_before["plans_pushed"],
            "writes_per_opt_in": round(writes / len(ok), 4) if ok else None,
            "opt_ins_per_write": round(len(ok) / writes, 1) if writes else None,
        },
        "visibility": {
            "visible": len(watcher.first_seen), "not_visible": len(not_visible),
            "not_visible_sample": not_visible[:5],
            "delay_ms": {"p50": ms(percentile(delays, 50)), "p95": ms(percentile(delays, 95)),
                         "max": ms(percentile(delays, 100)), "min": ms(min(delays) if delays else None)},
            "over_5s": sum(d > TARGET_VISIBLE_S for d in delays),
            "last_join_to_last_visible_ms": ms(last_visible - last_join) if last_visible and not not_visible else None,
            "client_api_polls": watcher.polls, "client_api_poll_errors": watcher.errors,
            "client_api_poll_ms_p50": ms(percentile(watcher.poll_seconds, 50)),
            "client_api_poll_ms_max": ms(percentile(watcher.poll_seconds, 100)),
        },
    }


def judge(report: dict) -> dict:
    joins, writes, seen = report["joins"], report["admin_writes"], report["visibility"]
    p99 = joins["latency_ms"]["p99"]
    worst = seen["delay_ms"]["max"]
    total, ok = writes["total"], joins["ok_2xx"]
    return {
        "join p99 < 250 ms": {"pass": p99 is not None and p99 < TARGET_P99_MS and joins["non_2xx"] == 0,
                              "detail": f"p99 {p99} ms, {joins['non_2xx']} non-2xx"},
        "every opt-in visible within 5 s": {
            "pass": seen["not_visible"] == 0 and ok == report["users"] and worst is not None
            and worst < TARGET_VISIBLE_S * 1000,
            "detail": f"max {worst} ms, {seen['over_5s']} over 5 s, {seen['not_visible']} never visible"},
        "< 1 Admin API write per 20 opt-ins": {
            "pass": ok > 0 and total * TARGET_OPTINS_PER_WRITE < ok,
            "detail": f"{total} writes for {ok} opt-ins ({writes['opt_ins_per_write']} opt-ins per write)"},
        "membership rows": {"pass": report["membership"]["ok"],
                            "detail": f"{report['membership']['rows']} rows, {report['membership']['statuses']}, "
                                      f"{report['membership']['distinct_users']} distinct"},
    }


if __name__ == "__main__":
    sys.exit(main())
