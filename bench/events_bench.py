"""KPI event ingestion benchmark (issue 11): 10,000 events in batches of 1,000 posted by the platform to a real
`planner serve`, then the same batches again (each must count once), then the KPI's verdict.

Reports the ingestion rate (events/s) and each batch's latency; exits 1 when a stored count is wrong.

Run: `make bench-events` (or `.venv/bin/python bench/events_bench.py [--events 10000] [--batch 1000]
[--database-url URL]`; default: a fresh SQLite file). Needs no Unleash: events are the planner's own data.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "intranet-rollout.yaml"
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[events-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        env = {**os.environ, "PLANNER_DATABASE_URL": url, "PLANNER_CONTROLLER": "false", "PLANNER_DEV_LOGIN": "true",
               "PLANNER_UNLEASH_ADMIN_TOKEN": "", "PLANNER_UNLEASH_CLIENT_TOKEN": ""}
        run = lambda *cmd: subprocess.run([str(BIN / "planner"), *cmd], env=env, check=True,  # noqa: E731
                                          capture_output=True, text=True).stdout.strip()
        run("db", "upgrade")
        run("plan", "apply", str(DEMO), "--actor", "bench")
        token = run("token", "create", f"bench-{int(time.time())}", "--actor", "bench").splitlines()[-1].strip()
        port = free_port()
        server = subprocess.Popen([str(BIN / "planner"), "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        client.get("/health")
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            raise SystemExit("planner serve did not answer")
                        time.sleep(0.2)
                now = datetime.now(UTC)
                batches = [[{"kpi": "blog-posts", "user": f"u-{(b * args.batch + i) % 500}",
                             "at": (now - timedelta(seconds=b * args.batch + i)).isoformat(),
                             "idempotency_key": f"bench-{b}-{i}"} for i in range(args.batch)]
                           for b in range(args.events // args.batch)]
                for label, want in (("first", "stored"), ("again", "duplicates")):
                    latencies, began = [], time.perf_counter()
                    for batch in batches:
                        t0 = time.perf_counter()
                        answer = client.post("/api/plans/intranet-rollout/events", json=batch)
                        latencies.append(time.perf_counter() - t0)
                        body = answer.json()
                        if answer.status_code != 200 or body[want] != len(batch) or body["refused"]:
                            log(f"batch refused or miscounted: {answer.status_code} {body}")
                            return 1
                    took = time.perf_counter() - began
                    total = sum(len(b) for b in batches)
                    log(f"{label}: {total:,} events in {len(batches)} batches in {took:.2f} s = {total / took:,.0f} "
                        f"events/s; batch latency median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms, "
                        f"max {max(latencies) * 1000:.0f} ms ({want}: all)")
        finally:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=30)
        listed = run("kpi", "list", "intranet-rollout")
        line = next((l for l in listed.splitlines() if "blog-posts" in l), "")
        log(f"planner kpi list: {' '.join(line.split())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
