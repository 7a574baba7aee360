"""Memory probes for the soak (`bench/soak.py --tracemalloc`), and a comparison of their snapshots.

    python bench/memtrace.py SNAPDIR FRAMES serve --port N    `planner serve ...`, probed
    python bench/memtrace.py compare FIRST.pickle LAST.pickle [lineno|traceback]

Served this way, the planner answers SIGUSR2 by starting tracemalloc with FRAMES frames (0: never), and
SIGUSR1 by writing SNAPDIR/probe-<n>.json: its RSS, glibc's malloc figures (mallinfo2: bytes in use, free
bytes glibc keeps, arenas), SQLite's own heap (sqlite3_memory_used, outside tracemalloc's sight),
tracemalloc's traced total and its own overhead, and, counted by type, the objects the collector tracks. With
tracemalloc on it also writes SNAPDIR/probe-<n>.pickle, a tracemalloc snapshot. Tracing starts on the signal,
not with `-X tracemalloc`: with it, every allocation costs 5-50 times as much here, and the server took
minutes to import and compile its templates (objects made before tracing starts are never traced, so snapshots
show what the traffic left behind). SIGRTMIN asks glibc to hand back the free memory it keeps (malloc_trim(0))
and writes SNAPDIR/trim-<n>.json, the figures before and after: what RSS that frees is fragmentation, not
memory anything holds. The snapshot and the object count are taken in a forked child, so the server's own heap
is not grown by them and its event loop stops only for the fork. The JSON file appears last (renamed into
place), once everything of that probe is written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


def _sqlite():
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")  # the one _sqlite3 uses
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        lib.sqlite3_memory_highwater.restype = ctypes.c_int64
        lib.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
        return lib
    except (OSError, AttributeError):
        return None


LIBC, SQLITE = _libc(), _sqlite()
MIB = 1024 * 1024


def rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def rss_parts() -> dict:
    """RSS split: anonymous (heaps, stacks, pymalloc arenas), file-backed (code, mapped files), shared."""
    wanted = {"RssAnon": "anon", "RssFile": "file", "RssShmem": "shmem"}
    return {wanted[k]: round(int(v.split()[0]) / 1024, 1) for k, v in
            (line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()) if k in wanted}


def pymalloc() -> dict:
    """pymalloc's own summary (sys._debugmallocstats writes it to fd 2; empty while tracemalloc runs, which
    puts its hooks in front of pymalloc): its arenas are mmapped, so glibc's figures do not count them."""
    with tempfile.TemporaryFile("w+") as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    found = {}
    for name, pattern in (("arenas_current", r"# arenas allocated current\s*=\s*([\d,]+)"),
                          ("arenas_highwater", r"# arenas highwater mark\s*=\s*([\d,]+)"),
                          ("allocated_blocks", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
                          ("available_blocks", r"# bytes in available blocks\s*=\s*([\d,]+)"),
                          ("arenas_bytes", r"arenas \* \d+ bytes/arena\s*=\s*([\d,]+)")):
        match = re.search(pattern, text)
        if match:
            value = int(match.group(1).replace(",", ""))
            found[name] = value if name.startswith("arenas_") and name != "arenas_bytes" else round(value / MIB, 1)
    return found


def figures() -> dict:
    """What this process's memory is made of, cheaply (no walk over objects)."""
    out: dict = {"time": time.time(), "rss_mib": rss_mib(), "rss_parts_mib": rss_parts(),
                 "threads": threading.active_count()}
    if LIBC is not None:
        info = LIBC.mallinfo2()
        out["malloc_mib"] = {
            "in_use": round((info.uordblks + info.hblkhd) / MIB, 1),  # handed out, heap + mmapped chunks
            "free_kept": round(info.fordblks / MIB, 1),  # freed, still held by glibc (fragmentation)
            "heap": round(info.arena / MIB, 1), "mmapped": round(info.hblkhd / MIB, 1),
            "releasable_top": round(info.keepcost / MIB, 1)}
    if SQLITE is not None:
        out["sqlite_mib"] = {"in_use": round(SQLITE.sqlite3_memory_used() / MIB, 1),
                             "highwater": round(SQLITE.sqlite3_memory_highwater(0) / MIB, 1)}
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        out["tracemalloc_mib"] = {"traced": round(current / MIB, 1), "peak": round(peak / MIB, 1),
                                  "own_overhead": round(tracemalloc.get_tracemalloc_memory() / MIB, 1)}
    return out


def _child_probe(directory: Path, n: int, stats: dict) -> None:
    """In the forked child: the heavy part, then the JSON last (renamed into place)."""
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        snapshot.dump(str(directory / f"probe-{n}.pickle.tmp"))
        os.rename(directory / f"probe-{n}.pickle.tmp", directory / f"probe-{n}.pickle")
    stats["pymalloc_mib"] = pymalloc()
    types = Counter(type(o).__qualname__ for o in gc.get_objects())  # the frozen startup objects excluded
    stats["objects"] = {"total": sum(types.values()), "top": types.most_common(25)}
    (directory / f"probe-{n}.json.tmp").write_text(json.dumps(stats, indent=1))
    os.rename(directory / f"probe-{n}.json.tmp", directory / f"probe-{n}.json")


def install(directory: Path, frames: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    count = iter(range(1, 10**6))

    def probe(_signum, _frame) -> None:
        n = next(count)
        stats = figures()  # in the server itself, before the fork
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _child_probe(directory, n, stats)
            except BaseException:  # noqa: BLE001 - the child must never return into the server
                code = 1
            finally:
                os._exit(code)
        threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True).start()  # reap it

    def start_tracing(_signum, _frame) -> None:
        if frames and not tracemalloc.is_tracing():
            tracemalloc.start(frames)

    trims = iter(range(1, 10**6))

    def trim(_signum, _frame) -> None:
        n, before = next(trims), figures()
        if LIBC is not None:
            LIBC.malloc_trim(0)
        result = {"before": before, "after": figures()}
        (directory / f"trim-{n}.json.tmp").write_text(json.dumps(result, indent=1))
        os.rename(directory / f"trim-{n}.json.tmp", directory / f"trim-{n}.json")

    signal.signal(signal.SIGUSR1, probe)
    signal.signal(signal.SIGUSR2, start_tracing)
    signal.signal(signal.SIGRTMIN, trim)


def _frames(stat: tracemalloc.Statistic, keep: int = 3) -> list[str]:
    """The innermost frames, and the innermost of the project's own if not among them."""
    frames = [f"{f.filename.removeprefix(str(ROOT) + '/')}:{f.lineno}" for f in stat.traceback]
    ours = [f for f in frames if not f.startswith(("/", "<", ".venv/"))]
    shown = frames[-keep:][::-1]  # the traceback is oldest first
    if ours and ours[-1] not in shown:
        shown.append(f"... {ours[-1]}")
    return shown


ROOT = Path(__file__).resolve().parents[1]
NOISE = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
         tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"), tracemalloc.Filter(False, "<unknown>")]


def compare(first: str, last: str, key: str = "lineno", top: int = 10) -> list[dict]:
    """The `top` allocation sites that grew most from snapshot `first` to `last`."""
    old = tracemalloc.Snapshot.load(first).filter_traces(NOISE)
    new = tracemalloc.Snapshot.load(last).filter_traces(NOISE)
    growth = []
    for stat in new.compare_to(old, key)[:top]:
        growth.append({"size_diff_kib": round(stat.size_diff / 1024, 1), "size_kib": round(stat.size / 1024, 1),
                       "count_diff": stat.count_diff, "count": stat.count, "where": _frames(stat)})
    return growth


def main() -> None:
    if sys.argv[1:2] == ["compare"]:
        first, last, *key = sys.argv[2:]
        print(json.dumps(compare(first, last, *(key or ["lineno"])), indent=1))
        return
    install(Path(sys.argv[1]), int(sys.argv[2]))
    sys.argv = ["planner", *sys.argv[3:]]
    sys.path.insert(0, str(ROOT))
    from cli.main import app

    app()


if __name__ == "__main__":
    main()
