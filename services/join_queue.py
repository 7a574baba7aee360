"""Opt-ins are written by one thread per process, in batches (group commit).

Forty request threads each running a small write transaction spend most of their time queueing for the
one SQLite writer and for the GIL, and a burst of joins turns that queue into seconds. Here a request
puts its join on a queue and awaits the answer; one writer thread takes everything waiting (up to
`max_batch`) and writes it with `join_batch` in one transaction, in arrival order, so a batch costs a
few statements whatever its size and nobody waits for more than the batch ahead of them.

Answers are given only after the commit: a join that is answered is stored. If a batch fails as a whole
(a constraint raced by another process, a database error), it is rolled back and each join is retried on
its own, so one bad request never fails the others.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from planner.db import session_scope
from planner.errors import PlannerError
from planner.optin import JoinResult
from planner.optin_batch import JoinRequest, Outcome, join, join_batch
from services import telemetry

log = logging.getLogger(__name__)

_STOP = object()


class JoinQueue:
    def __init__(self, database_url: str, *, max_batch: int = 200):
        self.database_url, self.max_batch = database_url, max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = self.joins = self.retried = 0  # for /health and the benchmark

    def submit(self, request: JoinRequest) -> Future:
        """The join's future: a JoinResult, or OptInRefused / PlanNotFound / CohortNotFound (or a database error)."""
        self._ensure_running()
        future: Future = Future()
        self._queue.put((request, future))
        return future

    async def join(self, request: JoinRequest) -> JoinResult:
        return await asyncio.wrap_future(self.submit(request))

    def stop(self, timeout: float = 10.0) -> None:
        """Writes what is queued, then ends the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def _ensure_running(self) -> None:
        # started on first use rather than with the app's lifespan: the request that needs it brings it up
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="join-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            stopping = first is _STOP
            batch = [] if stopping else [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[tuple[JoinRequest, Future]]) -> None:
        live = [(request, future) for request, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with session_scope(self.database_url, serial=True) as session:
                outcomes = join_batch(session, [request for request, _ in live])
        except Exception:  # noqa: BLE001 - rolled back as a whole: each one on its own decides
            log.warning("a batch of %d opt-ins failed as a whole; writing them one by one", len(live), exc_info=True)
            self.retried += len(live)
            telemetry.OPT_IN_RETRIED.inc(len(live))
            outcomes = [self._one(request) for request, _ in live]
        self.batches += 1
        self.joins += len(live)
        telemetry.OPT_IN_BATCHES.inc()
        for (_, future), outcome in zip(live, outcomes, strict=True):
            telemetry.OPT_INS.labels(_outcome(outcome)).inc()
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _one(self, request: JoinRequest) -> Outcome | Exception:
        try:
            with session_scope(self.database_url, serial=True) as session:
                return join(session=session, plan_key=request.plan_key, cohort_key=request.cohort_key,
                            user=request.user, accepted_version=request.accepted_version)
        except PlannerError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - this request's own failure, answered to it alone
            log.exception("an opt-in of %s to %s/%s failed", request.user, request.plan_key, request.cohort_key)
            return exc


def _outcome(outcome: Outcome | Exception) -> str:
    if isinstance(outcome, PlannerError):
        return "refused"
    if isinstance(outcome, BaseException):
        return "error"
    return outcome.status if outcome.changed else "unchanged"
