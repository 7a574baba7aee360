"""The planner's own flag reader runs only while "My features" is used, and is stopped when idle."""

import time

from flags.on_demand import ReaderOnDemand


class Reader:
    """Stands in for a FlagReader's lifecycle (start, stop): what is tested is when they are called."""

    def __init__(self, log: list[str]):
        self.log = log

    def start(self) -> None:
        self.log.append("start")

    def stop(self) -> None:
        self.log.append("stop")


def test_the_first_use_starts_a_reader_later_uses_share_it_and_an_idle_one_is_stopped():
    log: list[str] = []
    on_demand = ReaderOnDemand(lambda: Reader(log), environment="development", idle_after=0.2)
    try:
        assert on_demand.running() is None and log == []  # nothing polls until someone asks
        first = on_demand.reader()
        assert on_demand.reader() is first and log == ["start"]
        deadline = time.monotonic() + 10
        while on_demand.running() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert on_demand.running() is None and log == ["start", "stop"]
        assert on_demand.reader() is not first and log == ["start", "stop", "start"]  # a new one on the next use
    finally:
        on_demand.stop()
    assert log[-1] == "stop"
