"""Database engine and sessions; SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import Iterator
import threading
from contextlib import contextmanager, nullcontext
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine


CONNECT_TIMEOUT = 5  # seconds to open a PostgreSQL connection


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        # as many connections as the server has request threads (40), so nobody waits for one
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=10,
                               max_overflow=40)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # WAL stays set in the file; switching needs a lock, so only a new database does it
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            # with WAL, NORMAL syncs at checkpoints instead of every commit: still never corrupt, and a
            # crashed process loses nothing (only a power cut can lose the last commits)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # the web server runs up to 40 request threads, the opt-in writer and the pusher: keep enough
    # connections open that a burst does not open (and then close) new ones, a new backend each time
    # a server that takes the connection and never answers (a host gone, a firewall dropping packets) would
    # hold a request, or a /readyz probe, for as long as TCP tries: give up after CONNECT_TIMEOUT, unless the
    # URL sets its own (`?connect_timeout=`)
    given = "connect_timeout" in make_url(url).query
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=30,
                         connect_args={} if given else {"connect_timeout": CONNECT_TIMEOUT})


def open_pool(url: str) -> None:
    """Open the pool's connections now, for a server about to take load: a PostgreSQL connection is a new
    backend process and a password exchange (milliseconds of CPU each), better not paid by the first
    requests all at once. SQLite connections are cheap and opened as needed."""
    engine = engine_for(url)
    if url.startswith("sqlite"):
        return
    held = [engine.connect() for _ in range(engine.pool.size())]
    for connection in held:
        connection.close()


_writers: dict[str, threading.Lock] = {}


@contextmanager
def session_scope(url: str, *, serial: bool = False) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error.

    `serial=True` is for short write transactions on a hot path: SQLite lets one writer in at a time and
    makes the others sleep in growing steps (newcomers overtake them), so within one process they queue
    on a lock instead, in arrival order. PostgreSQL queues on its row locks and needs none.
    """
    lock = _writers.setdefault(url, threading.Lock()) if serial and url.startswith("sqlite") else nullcontext()
    with lock, Session(engine_for(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
