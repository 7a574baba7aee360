"""Flag readers for tests: started on demand with a test's defaults, every one stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flags.reader import FlagReader


@contextmanager
def started_readers(**defaults) -> Iterator[Callable[..., FlagReader]]:
    """`start(**kwargs)` makes and starts a FlagReader (`kwargs` over `defaults`; no metrics, no
    registration); all of them are stopped when the block ends."""
    readers: list[FlagReader] = []

    def start(**kwargs) -> FlagReader:
        reader = FlagReader(disable_metrics=True, disable_registration=True, **{**defaults, **kwargs})
        readers.append(reader)
        reader.start()
        return reader

    try:
        yield start
    finally:
        for reader in readers:
            reader.stop()
