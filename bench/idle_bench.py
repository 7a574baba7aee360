"""Idle CPU of `planner serve` beside a large synced plan (the sync bench's 200 features x 10 cohorts, one a
5,000-user list), against the real Unleash (`make bench-idle`).

Syncs the plan, starts the planner with nothing asking it anything, and reads the server process's CPU time
(/proc, user + system) over a quiet window after a warm-up; reports it as a share of one core, for the
planner's flag reader polling every `--refresh` seconds (default: as configured; give several to compare).
Archives the benchmark's flags and segments afterwards. Target: under 2 % of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_bench import empty_plan_of, stored_bench_plan  # noqa: E402

from flags.admin import UnleashAdmin  # noqa: E402
from planner.db import session_scope  # noqa: E402
from planner.plans import apply_plan  # noqa: E402
from services.sync import sync_plan  # noqa: E402

PLANNER = str(Path(sys.executable).parent / "planner")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its children that have ended (uvicorn serves in the process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def idle_share(url: str, refresh: int | None, warmup: float, window: float) -> dict:
    port = free_port()
    env = {**os.environ, "PLANNER_DATABASE_URL": url, "PLANNER_SESSION_SECRET": "b" * 32}
    if refresh is not None:
        env["PLANNER_READER_REFRESH_INTERVAL"] = str(refresh)
    server = subprocess.Popen([PLANNER, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    sys.exit("planner serve did not answer")
                time.sleep(0.2)
        time.sleep(warmup)  # the reader's first fetch, the pool, the templates
        before, began = cpu_seconds(server.pid), time.monotonic()
        time.sleep(window)
        used, elapsed = cpu_seconds(server.pid) - before, time.monotonic() - began
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    return {"refresh_s": refresh or "default", "cpu_s": round(used, 2), "window_s": round(elapsed, 1),
            "share_of_a_core_pct": round(100 * used / elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", type=int, action="append", help="reader poll interval(s) to measure")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    admin = UnleashAdmin(os.environ["UNLEASH_URL"], os.environ["UNLEASH_ADMIN_TOKEN"])
    key = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        url, plan = stored_bench_plan(tmp, key)
        synced = sync_plan(database_url=url, plan_key=key, admin=admin, actor="bench")
        if synced.outcome != "ok":
            sys.exit(f"sync failed: {synced.error}")
        report = {"plan": "200 features x 10 cohorts (one a 5,000-user list), synced",
                  "runs": [idle_share(url, r, args.warmup, args.window) for r in (args.refresh or [None])],
                  "target": "under 2 % of a core"}
        with session_scope(url) as session:
            apply_plan(session=session, plan=empty_plan_of(plan), actor="bench")
        sync_plan(database_url=url, plan_key=key, admin=admin, actor="bench")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
