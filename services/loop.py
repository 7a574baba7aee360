"""A background loop beside the web app: the opt-in pusher, the controller and the webhook sender are each one."""

from __future__ import annotations

import logging
import threading
import time

from planner import request_id

log = logging.getLogger(__name__)


class Loop:
    """Runs `step()` in a daemon thread every `interval` seconds, counted from one start to the next (so a slow
    step does not add its length to every wait), until `stop()`. A step that fails is logged and the next one
    runs: the loop survives anything one step meets."""

    name = "loop"
    stop_timeout = 10.0

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def step(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.stop_timeout)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(max(0.0, started + self.interval - time.monotonic())):
            started = time.monotonic()
            try:
                with request_id.bound(request_id.new(f"{self.name}-")):  # its Unleash calls and log lines
                    self.step()
            except Exception:  # noqa: BLE001 - the loop must survive anything one step meets
                log.exception("%s: a round failed; trying again", self.name)
