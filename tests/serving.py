"""`planner serve` as a real process for a test: started on a free loopback port, waited for, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

PLANNER = str(Path(sys.executable).parent / "planner")


@contextmanager
def planner_serve(env: dict[str, str], *, workers: int = 1,
                  log: Path | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """The server and its base URL, once /health answers (60 s at most); stopped with SIGINT at the end
    (a test that killed it itself is fine). Its controller is off unless `env` turns it on: a test of
    something else must not have plans synced behind its back. Its log (standard error) goes to `log`."""
    port = free_port()
    if log is None and os.environ.get("PLANNER_TEST_LOG_DIR"):  # kept for the secrets check at the session's end
        log = Path(os.environ["PLANNER_TEST_LOG_DIR"]) / f"serve-{port}-{time.monotonic_ns()}.log"
    with open(log, "wb") if log else open(os.devnull, "wb") as errors:
        server = subprocess.Popen([PLANNER, "serve", "--port", str(port), "--workers", str(workers)],
                                  env={**os.environ, "PLANNER_CONTROLLER": "false", **env}, stdout=subprocess.DEVNULL,
                                  stderr=errors, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("planner serve did not answer within 60 s")
                time.sleep(0.2)
        yield server, base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=30)
