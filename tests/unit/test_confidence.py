"""A gate judged by the confidence sequence at every controller round passes a KPI that truly misses its
target at most alpha of the time, where a naive 95 % interval looked at as often passes it far more
often; and it still passes a KPI that truly clears its target."""

import math
import random
import time
from functools import cache
from itertools import accumulate

import pytest

from planner.confidence import ALPHA, Bounds, mean_bounds, share_bounds

LOOKS = 2_000  # observations per simulated window, the gate looked at after each one
RUNS = 2_000
NAIVE_FROM = 10  # the naive interval is given a minimum sample (a Wald interval needs a sample variance)
TARGET_SHARE = 0.60
TARGET_MEAN = 4.0  # on a 1..5 rating scale
RATINGS = (1, 2, 3, 4, 5)
BELOW = (0.05, 0.07, 0.13, 0.37, 0.38)  # mean 3.96: just below the target
ABOVE = (0.02, 0.04, 0.08, 0.30, 0.56)  # mean 4.34
# a mean's look can pass only when (sum - n target)^2 >= Z2 * sum((x - target)^2), see _can_pass
Z2 = 2 * math.log(2 / ALPHA)


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    p = successes / n
    centre = p + z * z / (2 * n)
    return (centre - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


@cache
def _pass_counts() -> tuple[list[int], list[int], list[int]]:
    """For each n = 1..LOOKS, the fewest successes with which the gate `share >= TARGET_SHARE` passes
    (lower bound >= target), by the sequence and by a naive Wilson interval, and the most with which the
    sequence's upper bound lies below the target (-1: none). A success never lowers the bounds and a
    failure never raises them (test_a_success_never_lowers_the_bounds...), so each count moves by 0 or 1
    from one n to the next and a run passes at look n exactly when its successes reach the count."""
    cs, naive, below = [], [], []
    need, most, naive_need = 1, -1, 0  # the counts at n = 0; no share passes with 0 successes
    for n in range(1, LOOKS + 1):
        if share_bounds(need, n).lower < TARGET_SHARE:
            need += 1
        if share_bounds(most + 1, n).upper < TARGET_SHARE:
            most += 1
        while naive_need > 0 and wilson_lower(naive_need - 1, n) >= TARGET_SHARE:
            naive_need -= 1
        while naive_need <= n and wilson_lower(naive_need, n) < TARGET_SHARE:
            naive_need += 1
        cs.append(need)
        below.append(most)
        naive.append(naive_need if n >= NAIVE_FROM else n + 1)
    return cs, naive, below


def _share_runs(truth: float, seed: int):
    rng = random.Random(seed)
    for _ in range(RUNS):
        yield list(accumulate(rng.random() < truth for _ in range(LOOKS)))


def _first_pass(path: list[int], counts: list[int]) -> int | None:
    return next((n for n, (s, c) in enumerate(zip(path, counts), 1) if s >= c), None)


def _can_pass(total: float, total_sq: float, n: int, target: float) -> bool:
    """A look can pass only if the gap to the target is at least sqrt(2 log(2/alpha)) of its own
    spread: each bet's log-wealth is at most S^2 / (2 V) (test_a_mean_passes_only_beyond...)."""
    gap = total - n * target
    spread = total_sq - 2 * target * total + n * target * target
    return gap > 0 and gap * gap >= Z2 * spread


def _mean_looks(probabilities: tuple[float, ...], seed: int, runs: int, every: int = 1) -> tuple[list[int | None], int]:
    """For each run of ratings, the first n at which the sequence passes `mean >= TARGET_MEAN` (None: never
    within LOOKS), looking at every `every`-th n, and the number of runs a naive 95 % Wald interval passes
    at some look (every n)."""
    rng = random.Random(seed)
    passes, naive_passes = [], 0
    for _ in range(runs):
        total = total_sq = 0
        passed, naive = None, False
        for n, x in enumerate(rng.choices(RATINGS, weights=probabilities, k=LOOKS), 1):
            total += x
            total_sq += x * x
            if total <= n * TARGET_MEAN:  # neither can pass below the target (the cheap test first)
                continue
            if passed is None and n % every == 0 and _can_pass(total, total_sq, n, TARGET_MEAN):
                if mean_bounds(total, total_sq, n, low=1, high=5).lower >= TARGET_MEAN:
                    passed = n
            if not naive and n >= NAIVE_FROM:
                sd = math.sqrt(max(total_sq - total * total / n, 0) / (n - 1))
                naive = total / n - 1.96 * sd / math.sqrt(n) >= TARGET_MEAN
            if passed is not None and naive:
                break
        passes.append(passed)
        naive_passes += naive
    return passes, naive_passes


def test_a_share_just_below_its_target_passes_at_most_alpha_of_the_time_though_looked_at_every_round():
    cs, naive, _ = _pass_counts()
    runs = list(_share_runs(0.59, seed=1))
    false_passes = sum(_first_pass(path, cs) is not None for path in runs) / RUNS
    naive_passes = sum(_first_pass(path, naive) is not None for path in runs) / RUNS
    print(f"\nshare 59 % vs target 60 %, {RUNS} runs of {LOOKS} looks: the sequence passed {false_passes:.2%}, "
          f"a naive Wilson 95 % interval (from n = {NAIVE_FROM}) {naive_passes:.2%}")
    assert false_passes <= ALPHA, f"the sequence passed {false_passes:.2%} of runs, more than alpha"
    assert naive_passes > 2 * ALPHA, f"the naive interval passed only {naive_passes:.2%} of runs"


def test_a_share_sitting_on_its_target_stays_inside_the_sequence_at_every_look():
    cs, _, below = _pass_counts()
    misses = sum(_first_pass(path, cs) is not None or any(s <= b for s, b in zip(path, below))
                 for path in _share_runs(TARGET_SHARE, seed=2)) / RUNS
    print(f"\nshare exactly 60 %: the sequence left out the truth at some look in {misses:.2%} of runs")
    assert misses <= ALPHA


def test_a_share_well_above_its_target_passes_within_the_window():
    cs, _, _ = _pass_counts()
    firsts = [_first_pass(path, cs) for path in _share_runs(0.70, seed=3)]
    passed = sorted(n for n in firsts if n is not None)
    power = len(passed) / RUNS
    print(f"\nshare 70 % vs target 60 %: passed within {LOOKS} in {power:.2%} of runs, "
          f"at n = {passed[len(passed) // 2]} in the median run")
    assert power > 0.90


def test_a_mean_just_below_its_target_passes_at_most_alpha_of_the_time_though_looked_at_every_round():
    passes, naive_passes = _mean_looks(BELOW, seed=4, runs=RUNS)
    false_passes = sum(n is not None for n in passes) / RUNS
    naive_rate = naive_passes / RUNS
    print(f"\nratings mean 3.96 vs target 4.0, {RUNS} runs of {LOOKS} looks: the sequence passed "
          f"{false_passes:.2%}, a naive Wald 95 % interval (from n = {NAIVE_FROM}) {naive_rate:.2%}")
    assert false_passes <= ALPHA
    assert naive_rate > 2 * ALPHA


def test_a_mean_well_above_its_target_passes_within_the_window():
    # Looking at every 10th n only (a full evaluation each) can only make a run pass later or not at all
    passes, _ = _mean_looks(ABOVE, seed=5, runs=RUNS // 4, every=10)
    passed = sorted(n for n in passes if n is not None)
    power = len(passed) / len(passes)
    print(f"\nratings mean 4.34 vs target 4.0: passed within {LOOKS} in {power:.2%} of runs, "
          f"at n = {passed[len(passed) // 2]} in the median run")
    assert power > 0.90


def test_a_success_never_lowers_the_bounds_and_a_failure_never_raises_them():
    rng = random.Random(6)
    for n in [*range(1, 40), *rng.sample(range(40, 100_000), 40)]:
        for s in {0, n, *(rng.randint(0, n) for _ in range(3))}:
            now = share_bounds(s, n)
            success, failure = share_bounds(s + 1, n + 1), share_bounds(s, n + 1)
            assert success.lower >= now.lower and success.upper >= now.upper, (s, n)
            assert failure.lower <= now.lower and failure.upper <= now.upper, (s, n)
            if s < n:
                assert share_bounds(s + 1, n).lower >= now.lower, (s, n)


def test_a_mean_passes_only_beyond_a_fixed_number_of_its_own_standard_errors():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.choice([1, 2, 5, 20, 100, 1000, 20_000])
        values = rng.choices(RATINGS, weights=rng.choice([BELOW, ABOVE, (1, 1, 1, 1, 1), (1, 0, 0, 0, 9)]), k=n)
        total, total_sq = sum(values), sum(v * v for v in values)
        target = rng.uniform(1.5, 4.9)
        if mean_bounds(total, total_sq, n, low=1, high=5).lower >= target:
            assert _can_pass(total, total_sq, n, target)


def test_no_data_gives_the_whole_scale():
    share = share_bounds(0, 0)
    assert (share.lower, share.upper, share.n) == (0.0, 1.0, 0) and math.isnan(share.estimate)
    mean = mean_bounds(0, 0, 0, low=1, high=5)
    assert (mean.lower, mean.upper, mean.n) == (1.0, 5.0, 0) and math.isnan(mean.estimate)


def test_all_successes_and_all_failures_reach_the_edge_on_their_own_side_only():
    for n in (1, 5, 50, 5_000):
        every = share_bounds(n, n)
        assert every.upper == 1.0 and 0.0 < every.lower < 1.0 and every.estimate == 1.0
        none = share_bounds(0, n)
        assert none.lower == 0.0 and 0.0 < none.upper < 1.0 and none.estimate == 0.0
        assert none.upper == pytest.approx(1 - every.lower)
    top = mean_bounds(5 * 50, 25 * 50, 50, low=1, high=5)
    assert top.upper == 5.0 and 1.0 < top.lower < 5.0 and top.estimate == 5.0


def test_bounds_lie_on_the_scale_and_hold_the_estimate():
    rng = random.Random(8)
    for _ in range(200):
        n = rng.choice([1, 3, 10, 100, 10_000])
        s = rng.randint(0, n)
        share = share_bounds(s, n)
        assert 0.0 <= share.lower <= share.estimate <= share.upper <= 1.0
        low, high = rng.choice([(1, 5), (0, 10), (-3.5, 2.0)])
        values = [rng.uniform(low, high) for _ in range(n)]
        mean = mean_bounds(sum(values), sum(v * v for v in values), n, low=low, high=high)
        assert low <= mean.lower <= mean.estimate <= mean.upper <= high


def test_the_mean_does_not_depend_on_the_units_of_its_scale():
    values = [1, 4, 5, 5, 3, 4, 4, 2, 5, 4] * 30
    ratings = mean_bounds(sum(values), sum(v * v for v in values), len(values), low=1, high=5)
    percent = [(v - 1) * 25 for v in values]
    scaled = mean_bounds(sum(percent), sum(v * v for v in percent), len(values), low=0, high=100)
    assert scaled.lower == pytest.approx((ratings.lower - 1) * 25)
    assert scaled.upper == pytest.approx((ratings.upper - 1) * 25)


def test_more_data_narrows_the_bounds_on_average():
    rng = random.Random(9)
    widths = {}
    for n in (50, 200, 800, 3200):
        shares = [share_bounds(sum(rng.random() < 0.6 for _ in range(n)), n) for _ in range(20)]
        means = []
        for _ in range(20):
            values = rng.choices(RATINGS, weights=BELOW, k=n)
            means.append(mean_bounds(sum(values), sum(v * v for v in values), n, low=1, high=5))
        widths[n] = (sum(b.upper - b.lower for b in shares) / 20, sum(b.upper - b.lower for b in means) / 20)
    sizes = sorted(widths)
    for smaller, larger in zip(sizes, sizes[1:]):
        assert widths[larger][0] < widths[smaller][0] and widths[larger][1] < widths[smaller][1]


def test_a_smaller_error_rate_gives_wider_bounds():
    assert share_bounds(120, 200, alpha=0.01).lower < share_bounds(120, 200).lower < share_bounds(
        120, 200, alpha=0.2).lower


@pytest.mark.parametrize("call, message", [
    (lambda: share_bounds(11, 10), r"successes must lie between 0 and n \(got successes=11, n=10\)"),
    (lambda: share_bounds(-1, 10), r"successes must lie between 0 and n"),
    (lambda: share_bounds(0, -1), r"n must not be negative \(got n=-1\)"),
    (lambda: share_bounds(1, 2, alpha=0), r"alpha must lie strictly between 0 and 1"),
    (lambda: mean_bounds(10, 30, 5, low=5, high=1), r"low below high \(got low=5, high=1\)"),
    (lambda: mean_bounds(10, 30, 5, low=2, high=2), r"low below high"),
    (lambda: mean_bounds(0, 0, -2, low=1, high=5), r"n must not be negative"),
    (lambda: mean_bounds(30, 180, 5, low=1, high=5), r"total=30 is impossible for n=5 values on the scale \[1, 5\]"),
    (lambda: mean_bounds(15, 200, 5, low=1, high=5), r"total_sq=200 is impossible"),
    (lambda: mean_bounds(math.nan, 0, 5, low=1, high=5), r"the sums must be finite"),
])
def test_impossible_input_is_refused_with_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_one_evaluation_takes_well_under_a_millisecond_or_so():
    calls = [lambda: share_bounds(61_234, 100_000), lambda: share_bounds(17, 30),
             lambda: mean_bounds(391_000, 1_651_000, 100_000, low=1, high=5),
             lambda: mean_bounds(117, 500, 30, low=1, high=5)]
    start = time.perf_counter()
    for _ in range(50):
        for call in calls:
            assert isinstance(call(), Bounds)
    each = (time.perf_counter() - start) / (50 * len(calls))
    print(f"\none evaluation: {each * 1e3:.3f} ms")
    assert each < 0.005  # a generous ceiling for a loaded CI machine; ~0.2 ms measured on 2 cores
