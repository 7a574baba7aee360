"""Soak: mixed traffic on loopback against `planner serve` and the real Unleash (`make soak`, 30 minutes by
default; `--minutes` to shorten), then a consistency check.

Leads edit the plan and sync it through the API; pilot users join and leave (the cohort holds 50, so the
waitlist moves); the platform reads flags through the SDK. At the end the planner is left to push, and for
every user of the run the database, the access rule and the real Unleash (a fresh SDK) must agree. Reports
throughput, errors (target 0; a 409 for a sync another one holds is not an error) and the planner's memory
(its RSS each minute). `--tracemalloc FRAMES` serves the planner through bench/memtrace.py, starts tracemalloc
in it (FRAMES frames) once it answers, and probes it at the `--snapshots` minutes (2, 6, 10 by default): RSS,
glibc's and SQLite's heaps, objects by type and a tracemalloc snapshot each; the report then lists the
allocation sites that grew most from the first snapshot to the last (`--snapshots` alone probes without
tracemalloc). After the traffic, a probed planner is asked to malloc_trim(0): the RSS that frees was glibc's
free memory (fragmentation), not memory anything holds. Tracing slows the planner several times over, so such
a run is lighter traffic.
Not part of `make test`. Every request goes to 127.0.0.1; every loop stops by itself at the deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import memtrace  # noqa: E402 - bench/memtrace.py, beside this file

from flags.admin import UnleashAdmin
from flags.reader import FlagReader
from planner import migrate
from planner.db import session_scope
from planner.features import user_features
from planner.membership import User
from planner.optin import effective_members
from planner.planfile import load_plan
from planner.store import live_plan
from services.plans import apply_plan
from services.sync import sync_plan

ROOT = Path(__file__).resolve().parents[1]
PLANNER = str(Path(sys.executable).parent / "planner")
USERS = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


rss_mib = memtrace.rss_mib


def watch_memory(pid: int, began: float, deadline: float, probes: list[float], probe_dir: Path,
                 rss: list[float]) -> None:
    """RSS once a minute (at 0, 1, 2, ... minutes) and a probe (SIGUSR1) at each of `probes` minutes."""
    marks = sorted({(m, 0, "rss") for m in range(int((deadline - began) // 60) + 1)} |
                   {(m, 1, "probe") for m in probes if began + 60 * m <= deadline})
    for minute, _order, what in marks:
        time.sleep(max(0.0, began + 60 * minute - time.monotonic()))
        if what == "rss":
            rss.append(rss_mib(pid))
            continue
        n = len(list(probe_dir.glob("probe-*.json"))) + 1
        os.kill(pid, signal.SIGUSR1)
        for _ in range(1200):  # the probe's child writes its JSON last
            if (probe_dir / f"probe-{n}.json").exists():
                break
            time.sleep(0.1)


def probe_report(probe_dir: Path, frames: int) -> dict:
    probes = [json.loads(p.read_text()) for p in sorted(probe_dir.glob("probe-*.json"),
                                                          key=lambda p: int(p.stem.split("-")[1]))]
    report: dict = {"probes": [{k: v for k, v in p.items() if k != "objects"} | {
        "objects_total": p["objects"]["total"], "objects_top": p["objects"]["top"][:10]} for p in probes]}
    if (probe_dir / "trim-1.json").exists():
        trim = json.loads((probe_dir / "trim-1.json").read_text())
        report["malloc_trim_at_end"] = {when: {"rss_mib": figures["rss_mib"],
                                               "malloc_free_kept_mib": figures.get("malloc_mib", {}).get("free_kept")}
                                        for when, figures in trim.items()}
    if len(probes) >= 2:
        first, last = probes[0]["objects"], probes[-1]["objects"]
        before = dict(first["top"])
        report["objects_growth"] = sorted(((t, c - before.get(t, 0)) for t, c in last["top"]),
                                          key=lambda tc: -tc[1])[:10]
    snaps = sorted(probe_dir.glob("probe-*.pickle"), key=lambda p: int(p.stem.split("-")[1]))
    if frames and len(snaps) >= 2:
        report["tracemalloc_growth"] = {
            "from_to": [snaps[0].name, snaps[-1].name],
            "by_line": memtrace.compare(str(snaps[0]), str(snaps[-1]), "lineno"),
            "by_traceback": memtrace.compare(str(snaps[0]), str(snaps[-1]), "traceback")}
        if len(snaps) >= 3:
            report["tracemalloc_growth"]["last_interval_by_line"] = memtrace.compare(
                str(snaps[-2]), str(snaps[-1]), "lineno")
    return report


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests, self.errors = Counter(), Counter()

    def note(self, kind: str, response: httpx.Response | None, ok: tuple[int, ...] = (200, 303)) -> None:
        with self.lock:
            self.requests[kind] += 1
            if response is None or response.status_code not in ok:
                self.errors[f"{kind} {response.status_code if response is not None else 'no answer'}"] += 1

    def failed(self, loop: str, exc: Exception) -> None:
        """A request with no answer in time (or a refused connection): an error, and the loop goes on (it
        used to end the thread, and the run still reported 0 errors)."""
        with self.lock:
            self.errors[f"{loop}: {type(exc).__name__}"] += 1


def signed_in(base: str, user: str, role: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"user": user, "role": role, "csrf_token": csrf})
    return client, csrf


def lead_loop(base: str, key: str, deadline: float, tally: Tally, rng: random.Random) -> None:
    client, csrf = signed_in(base, "lead-soak", "lead")
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    while time.monotonic() < deadline:
        try:
            tally.note("plan page", client.get(f"/plans/{key}"))
            cell = rng.choice(["microblog", "communities"])
            tally.note("matrix edit", client.post(f"/plans/{key}/matrix/pilot/features/{cell}", headers=headers))
            tally.note("sync", client.post(f"/api/plans/{key}/syncs", json={}, headers=headers), ok=(202, 409))
            tally.note("sync panel", client.get(f"/plans/{key}/sync", headers={"HX-Request": "true"}))
        except httpx.HTTPError as exc:
            tally.failed("lead", exc)
        time.sleep(rng.uniform(1, 3))


def user_loop(base: str, key: str, users: list[str], deadline: float, tally: Tally, rng: random.Random) -> None:
    clients = {}
    while time.monotonic() < deadline:
        user = rng.choice(users)
        try:
            if user not in clients:
                clients[user] = signed_in(base, user, "pilot")
            client, csrf = clients[user]
            if rng.random() < 0.7:
                tally.note("join", client.post(f"/api/pilot/{key}/pilot/join", json={"accept_guidelines_version": 1},
                                               headers={"X-CSRF-Token": csrf}))
            else:
                tally.note("leave", client.post(f"/api/pilot/{key}/pilot/leave", json={},
                                                headers={"X-CSRF-Token": csrf}))
            if rng.random() < 0.2:
                tally.note("pilot page", client.get("/pilot"))
        except httpx.HTTPError as exc:
            tally.failed("user", exc)
        time.sleep(rng.uniform(0.05, 0.3))


def platform_loop(reader: FlagReader, flags: list[str], users: list[str], deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        for user in users[:50]:
            for flag in flags:
                reader.enabled(flag, {"userId": user})
        with tally.lock:
            tally.requests["flag reads"] += 50 * len(flags)
        time.sleep(0.2)


def consistency(database_url: str, key: str, env: dict[str, str], users: list[str]) -> dict:
    """For every user of the run: the access rule on the stored members, against a fresh SDK's answer."""
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        _row, plan = live_plan(session, key)
        members = effective_members(session, plan)[0]
    reader = FlagReader(url=env["UNLEASH_URL"], client_token=env["UNLEASH_CLIENT_TOKEN"], app_name="soak-check",
                        environment=plan.unleash.environment, refresh_interval=1, disable_metrics=True,
                        disable_registration=True)
    reader.start()
    try:
        disagreements = []
        for user in users:
            planned = {line.flag for line in user_features(plan, User(user, {}), now=now, members=members)
                       if line.planned_now}
            for feature in plan.features:
                flag = plan.flag_name(feature.key)
                if reader.enabled(flag, {"userId": user}) != (flag in planned):
                    disagreements.append(f"{user} {flag}: plan says {flag in planned}")
    finally:
        reader.stop()
    return {"users_checked": len(users), "members": len(members.get("pilot", [])),
            "disagreements": len(disagreements), "first": disagreements[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--users", type=int, default=4, help="threads of pilot users")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace the planner's allocations (FRAMES deep), with probes (see --snapshots)")
    parser.add_argument("--snapshots", default=None, metavar="MINUTES",
                        help="minutes at which to probe the planner's memory, e.g. 2,6,10 (the default "
                             "with --tracemalloc); the probes stay in --probe-dir")
    parser.add_argument("--probe-dir", type=Path, default=None, help="where probes go (default: a temp dir)")
    args = parser.parse_args()
    if args.snapshots is None:
        args.snapshots = "2,6,10" if args.tracemalloc else ""
    probes = [float(m) for m in args.snapshots.split(",") if m.strip()]
    env = {n: os.environ[n] for n in ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN")}
    key = f"soak{uuid.uuid4().hex[:6]}"
    text = (ROOT / "examples" / "intranet-rollout.yaml").read_text()
    plan = load_plan(text.replace("plan: intranet-rollout", f"plan: {key}\nflag_prefix: {key}-"))
    users = [f"soak-{i:03d}" for i in range(USERS)]
    with tempfile.TemporaryDirectory() as tmp, UnleashAdmin(env["UNLEASH_URL"], env["UNLEASH_ADMIN_TOKEN"]) as admin:
        url = f"sqlite:///{tmp}/soak.db"
        migrate.upgrade(url)
        apply_plan(database_url=url, plan=plan, actor="soak")
        assert sync_plan(database_url=url, plan_key=key, admin=admin, actor="soak").outcome == "ok"
        port = free_port()
        probe_dir = args.probe_dir or Path(tmp) / "probes"
        command = [PLANNER, "serve", "--port", str(port)]
        if probes:
            probe_dir.mkdir(parents=True, exist_ok=True)
            for old in [*probe_dir.glob("probe-*"), *probe_dir.glob("trim-*")]:
                old.unlink()
            command = [sys.executable, str(ROOT / "bench" / "memtrace.py"), str(probe_dir), str(args.tracemalloc),
                       "serve", "--port", str(port)]
        server = subprocess.Popen(command, env={
            **os.environ, "PLANNER_DATABASE_URL": url, "PLANNER_DEV_LOGIN": "true"}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{base}/health", timeout=5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            rss_start = rss_mib(server.pid)
            if probes and args.tracemalloc:
                os.kill(server.pid, signal.SIGUSR2)  # tracing from now on
            tally = Tally()
            reader = FlagReader(url=env["UNLEASH_URL"], client_token=env["UNLEASH_CLIENT_TOKEN"], app_name="soak",
                                environment="development", refresh_interval=5, disable_metrics=True)
            reader.start()
            began = time.monotonic()
            deadline = began + 60 * args.minutes
            rng = random.Random(7)
            threads = [threading.Thread(target=lead_loop, args=(base, key, deadline, tally, random.Random(1)))]
            threads += [threading.Thread(target=user_loop, args=(base, key, users, deadline, tally,
                                                                 random.Random(rng.random()))) for _ in range(args.users)]
            threads.append(threading.Thread(target=platform_loop, args=(
                reader, [plan.flag_name(f.key) for f in plan.features], users, deadline, tally)))
            rss_minutes: list[float] = []
            threads.append(threading.Thread(target=watch_memory, args=(
                server.pid, began, deadline, probes, probe_dir, rss_minutes)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
            reader.stop()
            rss_end = rss_mib(server.pid)
            if probes:
                os.kill(server.pid, signal.SIGRTMIN)
                for _ in range(100):
                    if (probe_dir / "trim-1.json").exists():
                        break
                    time.sleep(0.1)
            time.sleep(5)  # the pusher's last rounds, and any sync job still running
        finally:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=60)
        final = sync_plan(database_url=url, plan_key=key, admin=admin, actor="soak")
        check = consistency(url, key, env, users)
        http = sum(v for k, v in tally.requests.items() if k != "flag reads")
        report = {"minutes": round(elapsed / 60, 1), "requests": dict(tally.requests),
                  "http_per_second": round(http / elapsed, 1), "errors": dict(tally.errors),
                  "error_count": sum(tally.errors.values()), "final_sync_writes": final.writes,
                  "planner_rss_mib": {"start": rss_start, "end": rss_end, "growth": round(rss_end - rss_start, 1),
                                      "per_minute": rss_minutes},
                  "consistency": check}
        if probes:
            report["memory"] = probe_report(probe_dir, args.tracemalloc)
        apply_plan(database_url=url, plan=plan.model_copy(update={"features": (), "cohorts": (), "phases": (),
                                                                  "kpis": ()}), actor="soak")
        sync_plan(database_url=url, plan_key=key, admin=admin, actor="soak")  # clean up the soak's flags
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["error_count"] == 0 and check["disagreements"] == 0 else 1)


if __name__ == "__main__":
    main()
