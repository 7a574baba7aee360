"""The id of the request (or background round) the current code works for: set by the web app and the loops, read
by the log lines and sent to Unleash as `X-Request-ID`, so one id follows a piece of work through every log."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

HEADER = "X-Request-ID"
# what a proxy's id may look like to be taken over as it is (nginx's 32 hex digits, a UUID, `Root=1-…`):
# short, and nothing that could break a log line or a header
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)
T = TypeVar("T")


def current() -> str | None:
    return _current.get()


def new(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex


def sane(value: str | None) -> str | None:
    """`value` when it is fit to be used as a request id as it came, else None (then one is made up)."""
    return value if value and _SANE.fullmatch(value) else None


@contextmanager
def bound(value: str | None) -> Iterator[str | None]:
    """Work inside this block is done for request `value`."""
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


def carried(work: Callable[..., T]) -> Callable[..., T]:
    """`work`, run with the caller's request id in whatever thread runs it (a pool's threads start with none)."""
    value = _current.get()

    def run(*args, **kwargs) -> T:
        with bound(value):
            return work(*args, **kwargs)

    return run
