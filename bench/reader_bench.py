"""Flag reader benchmark against the real Unleash (`make unleash`): hot-path overhead and propagation.

1. Overhead. One started ``FlagReader`` (refresh 1 s) and one bare ``UnleashClient`` (same URL and
   token, refresh 1 s, metrics and registration off, its own in-memory cache) hold the same ~20 flags
   of a synced plan (20 features; cohorts: a 500-user list, ``department IN [...]`` attributes, everyone
   at 30 %). The same fixed list of (flag, context) pairs is evaluated in interleaved rounds
   (bare ``is_enabled``, ``FlagReader.enabled``, ``PlatformFlags.enabled``, bare, ...); the report gives
   the median ns/call and calls/s of each and the ratios reader/bare and platform/bare.
   Target: reader/bare <= 1.10 (the only check that makes the exit status non-zero).
2. Propagation. A plan edit (a preview grant of the ``probe`` feature to a list cohort holding the probe
   user, added and removed in turn) is applied and synced with ``sync_plan``; timed from the start of the
   sync: (a) the sync, (b) the client API (``/api/client/features``) showing it, (c) a reader with
   refresh 1 s and (d) one with refresh 15 s answering the new value. Every trial waits at most 40 s.
3. Clean-up. An empty plan of the same key is synced: the flags are archived, the segments deleted.

Run: `make bench-reader` (or with the UNLEASH_* lines in the environment:
`.venv/bin/python bench/reader_bench.py [--calls 200000] [--round 20000] [--trials 5]`).
Prints one JSON report on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from UnleashClient import UnleashClient

from flags.admin import UnleashAdmin
from flags.platform import PlatformFlags, PlatformUser
from flags.reader import FlagReader, MemoryCache
from planner import migrate
from planner.db import session_scope
from planner.model import (
    Cohort,
    CohortKind,
    Feature,
    Grant,
    Phase,
    Plan,
    Rule,
    UnleashBinding,
)
from planner.plans import apply_plan
from planner.validation import parse_plan
from services.sync import sync_plan

FEATURES, LIST_USERS, PAIRS = 20, 500, 1000
CHUNK = 100  # calls per turn of a subject in the interleaved overhead rounds
TARGET_READER_RATIO = 1.10
TRIAL_LIMIT_S = 40.0
API_POLL_S, READER_POLL_S = 0.05, 0.005
PROBE_USER = "probe-user-0001"
CLIENT_SPEC = {"Unleash-Client-Spec": "5.1.0"}


def log(message: str) -> None:
    print(f"[reader-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stats(values: list[float | None], digits: int = 3) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    out: dict[str, Any] = {"n": len(got), "timeouts": len(values) - len(got)}
    if got:
        out.update(min=round(min(got), digits), median=round(statistics.median(got), digits),
                   max=round(max(got), digits))
    return out


# -- the plan ---------------------------------------------------------------------------------

def bench_plan(key: str, *, probe_on: bool) -> Plan:
    """20 features in three past phases and one future phase, plus ``probe`` (no phase: off).

    ``probe_on`` adds a preview grant of ``probe`` to the ``probe`` list cohort (the probe user only)
    in the first, past phase: one strategy and the flag's environment toggle change, nothing else."""
    features = tuple(Feature(key=f"f{i:02d}", name=f"Feature {i}") for i in range(FEATURES)) + (
        Feature(key="probe", name="Propagation probe"),)
    cohorts = (
        Cohort(key="champions", kind=CohortKind.list, users=tuple(f"champ-{i:04d}" for i in range(LIST_USERS))),
        Cohort(key="depts", kind=CohortKind.attribute,
               rules=(Rule(property="department", operator="IN", values=("HR", "Sales")),)),
        Cohort(key="legal", kind=CohortKind.attribute,
               rules=(Rule(property="department", operator="IN", values=("Legal",)),)),
        Cohort(key="all", kind=CohortKind.everyone, percentage=30),
        Cohort(key="probe", kind=CohortKind.list, users=(PROBE_USER,)),
    )
    keys = [f.key for f in features[:FEATURES]]
    grants = (Grant(feature="probe", cohorts=("probe",)),) if probe_on else ()
    phases = (
        Phase(key="pilot", starts=datetime(2024, 1, 8, 8, tzinfo=UTC), cohorts=("champions",),
              features=tuple(keys[0:8]), grants=grants),
        Phase(key="wave-1", starts=datetime(2024, 3, 4, 8, tzinfo=UTC), cohorts=("depts",), features=tuple(keys[8:14])),
        Phase(key="general", starts=datetime(2024, 6, 3, 8, tzinfo=UTC), cohorts=("all",), features=tuple(keys[14:18])),
        # in the future: these strategies carry a currentTime constraint that is not met yet
        Phase(key="later", starts=datetime(2030, 1, 7, 8, tzinfo=UTC), cohorts=("legal",), features=tuple(keys[18:20])),
    )
    plan = Plan(plan=key, flag_prefix=f"{key}-", unleash=UnleashBinding(environment="development"),
                features=features, cohorts=cohorts, phases=phases)
    parse_plan(plan.model_dump(mode="json"))  # the planner's own validation: raises on a mistake
    return plan


def apply(db_url: str, plan: Plan) -> None:
    with session_scope(db_url) as session:
        apply_plan(session=session, plan=plan, actor="reader-bench")


def sync(db_url: str, key: str, admin: UnleashAdmin) -> dict:
    began = time.perf_counter()
    result = sync_plan(database_url=db_url, plan_key=key, admin=admin, actor="reader-bench")
    seconds = time.perf_counter() - began
    if result.outcome != "ok":
        raise RuntimeError(f"sync failed: {result.error}")
    data = result.as_json()
    return {"seconds": round(seconds, 3), "writes": data["writes"], "created": data["created"],
            "updated": data["updated"], "deleted": data["deleted"]}


# -- clients ----------------------------------------------------------------------------------



def reader_flags(reader: FlagReader) -> set[str]:
    return {f["name"] for f in reader.definitions()["features"]}


def wait_for(what: str, check, limit: float = TRIAL_LIMIT_S) -> float:
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > limit:
            raise RuntimeError(f"gave up after {limit:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - began


def api_probe_on(api: httpx.Client, flag: str) -> bool | None:
    """Does the client API give the probe flag, on with a strategy? None when it has no such flag."""
    response = api.get("client/features")
    response.raise_for_status()
    for feature in response.json()["features"]:
        if feature["name"] == flag:
            return bool(feature.get("enabled") and feature.get("strategies"))
    return None


# -- 1. overhead ------------------------------------------------------------------------------

def build_pairs(plan: Plan, platform: PlatformFlags, seed: int = 20240108):
    """A fixed, mixed list of (feature key, user): list members, department users, everybody else."""
    rnd = random.Random(seed)
    users: list[PlatformUser] = []
    for i in range(300):
        users.append(PlatformUser(f"champ-{rnd.randrange(LIST_USERS):04d}"))
    for i in range(300):
        users.append(PlatformUser(f"emp-{i:04d}", {"department": rnd.choice(("HR", "Sales", "Legal", "IT"))}))
    for i in range(400):
        users.append(PlatformUser(f"user-{i:04d}", {"location": "Berlin"} if i % 2 else {}))
    keys = [f.key for f in plan.features if f.key != "probe"]
    platform_pairs = [(rnd.choice(keys), rnd.choice(users)) for _ in range(PAIRS)]
    flag_pairs = [(plan.flag_name(k), platform.context_for(u)) for k, u in platform_pairs]
    return flag_pairs, platform_pairs


def time_chunk(fn, pairs: list) -> tuple[int, int]:
    """(wall ns, this thread's CPU ns) for one call of fn per pair; the loop is the same for every fn."""
    wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
    for a, b in pairs:
        fn(a, b)
    return time.perf_counter_ns() - wall, time.thread_time_ns() - cpu


def overhead(plan: Plan, reader: FlagReader, bare: UnleashClient, platform: PlatformFlags,
             *, calls: int, round_size: int) -> dict:
    flag_pairs, platform_pairs = build_pairs(plan, platform)
    answers_bare = [bare.is_enabled(f, c) for f, c in flag_pairs]
    answers_reader = [reader.enabled(f, c) for f, c in flag_pairs]
    answers_platform = [platform.enabled(k, u) for k, u in platform_pairs]
    if not (answers_bare == answers_reader == answers_platform):
        differ = sum(1 for a, b, c in zip(answers_bare, answers_reader, answers_platform) if not a == b == c)
        raise RuntimeError(f"the three ways disagree on {differ} of {len(flag_pairs)} pairs")

    def noop(_a, _b):
        return False

    subjects = {
        "loop_noop": (noop, flag_pairs),  # a Python function call in the same loop: the floor
        "bare_is_enabled": (bare.is_enabled, flag_pairs),
        "reader_enabled": (reader.enabled, flag_pairs),
        "platform_enabled": (platform.enabled, platform_pairs),
    }
    names = list(subjects)
    for fn, pairs in subjects.values():  # warm up
        time_chunk(fn, pairs)
    # A round is round_size calls of each subject, made of chunks of CHUNK pairs; the subjects take
    # turns chunk by chunk, in an order that rotates, so that the load of a busy machine falls on all
    # of them alike. Over a round every subject goes through the same pairs the same number of times.
    slices = [(i, i + CHUNK) for i in range(0, len(flag_pairs), CHUNK)]
    chunks = max(1, round_size // CHUNK)
    round_size = chunks * CHUNK
    rounds = max(1, calls // round_size)
    sliced = {name: [pairs[a:b] for a, b in slices] for name, (_fn, pairs) in subjects.items()}
    ns: dict[str, list[float]] = {name: [] for name in subjects}
    cpu_ns: dict[str, list[float]] = {name: [] for name in subjects}
    turn = 0
    gc.collect()
    for r in range(rounds):
        wall_sum = dict.fromkeys(names, 0)
        cpu_sum = dict.fromkeys(names, 0)
        for c in range(chunks):
            part = c % len(slices)
            for k in range(len(names)):
                name = names[(turn + k) % len(names)]
                wall, cpu = time_chunk(subjects[name][0], sliced[name][part])
                wall_sum[name] += wall
                cpu_sum[name] += cpu
            turn += 1
        for name in names:
            ns[name].append(wall_sum[name] / round_size)
            cpu_ns[name].append(cpu_sum[name] / round_size)
        log(f"overhead round {r + 1}/{rounds}: bare {ns['bare_is_enabled'][-1]:.0f} ns, "
            f"reader {ns['reader_enabled'][-1]:.0f} ns, platform {ns['platform_enabled'][-1]:.0f} ns")
    med = {name: statistics.median(values) for name, values in ns.items()}
    per_round = {
        "reader_over_bare": [r / b for r, b in zip(ns["reader_enabled"], ns["bare_is_enabled"])],
        "platform_over_bare": [p / b for p, b in zip(ns["platform_enabled"], ns["bare_is_enabled"])],
    }
    report = {
        "pairs": len(flag_pairs), "true_share": round(sum(answers_bare) / len(answers_bare), 3),
        "calls_per_subject": rounds * round_size, "rounds": rounds, "round_size": round_size,
        "interleaving": f"each round: {chunks} chunks of {CHUNK} calls per subject, "
                        "subjects taking turns chunk by chunk in a rotating order",
    }
    for name in subjects:
        report[name] = {"ns_per_call_median": round(med[name], 1),
                        "ns_per_call_min": round(min(ns[name]), 1), "ns_per_call_max": round(max(ns[name]), 1),
                        "calls_per_s_median": round(1e9 / med[name]),
                        "thread_cpu_ns_per_call_median": round(statistics.median(cpu_ns[name]), 1)}
    report["ratio_reader_over_bare"] = round(med["reader_enabled"] / med["bare_is_enabled"], 4)
    report["ratio_platform_over_bare"] = round(med["platform_enabled"] / med["bare_is_enabled"], 4)
    report["ratio_per_round"] = {name: {"min": round(min(v), 4), "median": round(statistics.median(v), 4),
                                        "max": round(max(v), 4)} for name, v in per_round.items()}
    cpu_med = {name: statistics.median(values) for name, values in cpu_ns.items()}
    report["ratio_thread_cpu"] = {
        "reader_over_bare": round(cpu_med["reader_enabled"] / cpu_med["bare_is_enabled"], 4),
        "platform_over_bare": round(cpu_med["platform_enabled"] / cpu_med["bare_is_enabled"], 4)}
    report["added_ns_reader"] = round(med["reader_enabled"] - med["bare_is_enabled"], 1)
    report["added_ns_platform"] = round(med["platform_enabled"] - med["bare_is_enabled"], 1)
    isolated = wrapper_cost(plan, flag_pairs, platform_pairs)
    isolated["predicted_ratio_reader_over_bare"] = round(
        (med["bare_is_enabled"] + isolated["reader_adds_ns"]) / med["bare_is_enabled"], 4)
    isolated["predicted_ratio_platform_over_bare"] = round(
        (med["bare_is_enabled"] + isolated["platform_adds_ns"]) / med["bare_is_enabled"], 4)
    report["wrapper_only_with_stub_sdk"] = isolated
    report["target_reader_over_bare"] = TARGET_READER_RATIO
    report["target_met"] = report["ratio_reader_over_bare"] <= TARGET_READER_RATIO
    return report


class _StubClient:
    """Stands in for UnleashClient to time only what FlagReader and PlatformFlags add around it."""

    def is_enabled(self, feature_name, context=None, fallback_function=None):
        return False


def wrapper_cost(plan: Plan, flag_pairs: list, platform_pairs: list, *, rounds: int = 15) -> dict:
    """ns that FlagReader.enabled / PlatformFlags.enabled add per call, with the SDK replaced by a stub.

    Uses a private attribute (``FlagReader._client``) on a reader that is never started; only here."""
    stub = _StubClient()
    reader = FlagReader(url="http://127.0.0.1:9/api", client_token="not-used", app_name="reader-bench-stub")
    reader._client = stub
    platform = PlatformFlags(reader, plan, defaults={f.key: False for f in plan.features})
    subjects = {"stub_is_enabled": (stub.is_enabled, flag_pairs), "reader_enabled": (reader.enabled, flag_pairs),
                "platform_enabled": (platform.enabled, platform_pairs)}
    names = list(subjects)
    for fn, pairs in subjects.values():
        time_chunk(fn, pairs)
    ns: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            fn, pairs = subjects[name]
            ns[name].append(time_chunk(fn, pairs * 20)[0] / (20 * len(pairs)))
    med = {name: statistics.median(v) for name, v in ns.items()}
    return {"ns_per_call_median": {n: round(v, 1) for n, v in med.items()},
            "reader_adds_ns": round(med["reader_enabled"] - med["stub_is_enabled"], 1),
            "platform_adds_ns": round(med["platform_enabled"] - med["stub_is_enabled"], 1)}


# -- 2. propagation ---------------------------------------------------------------------------

def trial(db_url: str, plan: Plan, admin: UnleashAdmin, api: httpx.Client, fast: FlagReader, slow: FlagReader,
          want: bool) -> dict:
    probe_flag = plan.flag_name("probe")
    context = {"userId": PROBE_USER, "properties": {}}
    if fast.enabled(probe_flag, context) == want or slow.enabled(probe_flag, context) == want:
        raise RuntimeError(f"a reader already answers {want} before the change")
    began = time.perf_counter()
    apply(db_url, plan)
    apply_s = time.perf_counter() - began

    outcome: dict[str, Any] = {}

    def run_sync() -> None:
        try:
            outcome["sync"] = sync(db_url, plan.key, admin)
        except BaseException as exc:  # noqa: BLE001 -- handed to the main thread, which raises it
            outcome["error"] = exc
        finally:
            outcome["done"] = time.perf_counter()

    t0 = time.perf_counter()
    worker = threading.Thread(target=run_sync, name="reader-bench-sync")
    worker.start()
    seen: dict[str, float | None] = {"api": None, "reader_1s": None, "reader_15s": None}
    next_api = t0
    while True:
        now = time.perf_counter()
        if seen["reader_1s"] is None and fast.enabled(probe_flag, context) == want:
            seen["reader_1s"] = now - t0
        if seen["reader_15s"] is None and slow.enabled(probe_flag, context) == want:
            seen["reader_15s"] = now - t0
        if seen["api"] is None and now >= next_api:
            if api_probe_on(api, probe_flag) == want:
                seen["api"] = time.perf_counter() - t0
            next_api = now + API_POLL_S
        if all(v is not None for v in seen.values()) and "done" in outcome:
            break
        if now - t0 > TRIAL_LIMIT_S:
            break
        time.sleep(READER_POLL_S)
    worker.join(timeout=TRIAL_LIMIT_S)
    if "error" in outcome:
        raise RuntimeError(f"sync in trial failed: {outcome['error']}")
    if "sync" not in outcome:
        raise RuntimeError(f"the sync did not finish within {TRIAL_LIMIT_S:.0f} s")
    result = {"to": want, "apply_s": round(apply_s, 3), "sync_s": outcome["sync"]["seconds"],
              "sync_writes": outcome["sync"]["writes"]}
    result.update({f"{k}_s": None if v is None else round(v, 3) for k, v in seen.items()})
    return result


def propagation(db_url: str, plan_of, admin: UnleashAdmin, api: httpx.Client, fast: FlagReader,
                slow: FlagReader, *, trials: int) -> dict:
    rows = []
    state = False
    rnd = random.Random()  # not seeded: a fixed sequence would replay the same phases every run
    for i in range(trials):
        state = not state
        # Each trial ends just after the 15 s reader polled; changing right away would always hit the
        # start of its cycle (a steady ~15 s). A random wait puts the change anywhere in the cycle.
        offset = rnd.uniform(0, slow.refresh_interval)
        time.sleep(offset)
        row = trial(db_url, plan_of(state), admin, api, fast, slow, state)
        row["waited_before_s"] = round(offset, 2)
        rows.append(row)
        log(f"propagation trial {i + 1}/{trials} (-> {state}): sync {row['sync_s']} s, api {row['api_s']} s, "
            f"reader 1 s {row['reader_1s_s']} s, reader 15 s {row['reader_15s_s']} s")
        if any(row[k] is None for k in ("api_s", "reader_1s_s", "reader_15s_s")):
            # let everything settle before the next trial, or it would start from a mixed state
            probe, context, want = plan_of(state).flag_name("probe"), {"userId": PROBE_USER}, state

            def settled(probe=probe, context=context, want=want) -> bool:
                return fast.enabled(probe, context) == want and slow.enabled(probe, context) == want

            wait_for("the readers to settle", settled)
    return {
        "change": "a preview grant of feature 'probe' to a list cohort of the probe user, added and removed in turn",
        "timed_from": "start of sync_plan (apply_plan to the local SQLite DB runs just before)",
        "phase": "a random wait U(0, 15 s) before each change, so that it lands anywhere in the readers' poll cycles",
        "trials": rows,
        "apply_s": stats([r["apply_s"] for r in rows]),
        "sync_s": stats([r["sync_s"] for r in rows]),
        "client_api_s": stats([r["api_s"] for r in rows]),
        "reader_refresh_1s_s": stats([r["reader_1s_s"] for r in rows]),
        "reader_refresh_15s_s": stats([r["reader_15s_s"] for r in rows]),
        "client_api_after_sync_end_s": stats([r["api_s"] - r["sync_s"] for r in rows if r["api_s"] is not None]),
        "reader_1s_after_client_api_s": stats([
            r["reader_1s_s"] - r["api_s"] for r in rows if r["reader_1s_s"] is not None and r["api_s"] is not None]),
        "reader_15s_after_client_api_s": stats([
            r["reader_15s_s"] - r["api_s"] for r in rows if r["reader_15s_s"] is not None and r["api_s"] is not None]),
        "limit_per_trial_s": TRIAL_LIMIT_S,
        "polling": {"client_api_every_s": API_POLL_S, "readers_every_s": READER_POLL_S},
    }


# -- main -------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="calls per subject (default 200000)")
    parser.add_argument("--round", type=int, default=20_000, help="calls per subject per round (default 20000)")
    parser.add_argument("--trials", type=int, default=5, help="propagation trials, at least 3 (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    url, admin_token, client_token = (os.environ[n] for n in
                                      ("UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN"))
    key = f"rbench{uuid.uuid4().hex[:6]}"
    admin = UnleashAdmin(url, admin_token)
    api = httpx.Client(base_url=url.rstrip("/") + "/", timeout=10.0,
                       headers={"Authorization": client_token, **CLIENT_SPEC})
    readers: list[FlagReader] = []
    bare: UnleashClient | None = None
    report: dict[str, Any] = {"plan_key": key}
    exit_code = 0
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/reader-bench.db"
        migrate.upgrade(db_url)
        plan = bench_plan(key, probe_on=False)
        plans = {False: plan, True: bench_plan(key, probe_on=True)}
        try:
            apply(db_url, plan)
            report["setup_sync"] = sync(db_url, key, admin)
            wanted = {plan.flag_name(f.key) for f in plan.features}
            report["plan"] = (f"{len(wanted)} flags ({FEATURES} features + probe); cohorts: {LIST_USERS}-user list, "
                              "department IN [HR, Sales], department IN [Legal] (future phase), everyone 30 %, "
                              "probe list")
            wait_for("the client API to list every flag",
                     lambda: wanted <= {f["name"] for f in api.get("client/features").json()["features"]})
            log(f"synced {len(wanted)} flags in {report['setup_sync']['seconds']} s")

            # -- 1. overhead
            reader = FlagReader(url=url, client_token=client_token, app_name="reader-bench",
                                environment="development", refresh_interval=1)
            readers.append(reader)
            reader.start()
            bare = UnleashClient(url=url, app_name="reader-bench-bare", environment="development",
                                 refresh_interval=1, disable_metrics=True, disable_registration=True,
                                 custom_headers={"Authorization": client_token}, cache=MemoryCache())
            bare.initialize_client()
            wait_for("both clients to hold every flag",
                     lambda: wanted <= reader_flags(reader) and wanted <= set(bare.feature_definitions()))
            time.sleep(2.5)  # two more polls each: the payload is the one after the whole sync
            platform = PlatformFlags(reader, plan, defaults={f.key: False for f in plan.features})
            report["overhead"] = overhead(plan, reader, bare, platform, calls=args.calls, round_size=args.round)
            report["overhead"]["setup"] = {
                "reader": "FlagReader(refresh_interval=1), started; metrics and registration on (its defaults)",
                "bare": "UnleashClient(refresh_interval=1, disable_metrics, disable_registration, in-memory cache)",
                "platform": "PlatformFlags(reader, plan).enabled(feature_key, PlatformUser): builds the context",
                "reader_fallback": "reader.enabled(flag, ctx) passes its default fallback; bare passes none",
            }
            if not report["overhead"]["target_met"]:
                exit_code = 1
            reader.stop()
            bare.destroy()
            bare = None

            # -- 2. propagation
            fast = FlagReader(url=url, client_token=client_token, app_name="reader-bench-1s",
                              environment="development", refresh_interval=1)
            slow = FlagReader(url=url, client_token=client_token, app_name="reader-bench-15s",
                              environment="development", refresh_interval=15)
            readers += [fast, slow]
            fast.start()
            slow.start()
            probe = plan.flag_name("probe")
            wait_for("both readers to hold the probe flag", lambda: probe in reader_flags(fast) and probe in reader_flags(slow))
            report["propagation"] = propagation(db_url, plans.__getitem__, admin, api, fast, slow,
                                                trials=max(3, args.trials))
            report["propagation"]["reader_health_after"] = {"reader_1s": fast.health().as_dict(),
                                                            "reader_15s": slow.health().as_dict()}
        finally:
            for r in readers:
                r.stop()
            if bare is not None:
                bare.destroy()
            # -- 3. clean-up: an empty plan of the same key archives every flag and deletes every segment
            try:
                apply(db_url, Plan(plan=key, flag_prefix=f"{key}-", unleash=plan.unleash))
                report["cleanup"] = sync(db_url, key, admin)
                left = [s["name"] for s in admin.list_segments() if s["name"].startswith(f"rp:{key}:")]
                active = [f["name"] for f in admin.list_features("default") if f["name"].startswith(f"{key}-")]
                report["cleanup"].update(segments_left=len(left), active_flags_left=len(active))
            except Exception as exc:  # noqa: BLE001 -- reported; keeps the original error if there is one
                report["cleanup"] = {"error": str(exc)}
            api.close()
            admin.close()
    print(json.dumps(report, indent=2))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
