"""Anytime-valid confidence sequences for a share or a bounded mean, computed from running sums.

A gate is looked at every controller round, so a fixed-n 95 % interval would pass a KPI that truly misses
its target far more often than 5 % of the time. These bounds hold at every n at once: if the true share
or mean is m, P(at some n, m lies outside [lower, upper]) <= alpha, however often they are looked at
(alpha/2 for each side, so a false pass and a false fail are each at most alpha/2).

Written here rather than taken from PyPI: confseq 0.0.11 has no Linux wheels and its source build
(pybind11 2.6 + Boost) fails on CPython 3.11; expectation 0.6.1 needs Python >= 3.12, has an x86-64
wheel only and pulls numpy, scipy, pandas, plotly and matplotlib; savvi 0.3.1 has no bounded-mean
sequence, solves a cvxpy problem per interval (~34 ms) and brings ~470 MB of dependencies. This is
standard-library Python, ~0.1-0.3 ms per call, at least as tight as confseq's Bernoulli sequence.

How (Waudby-Smith & Ramdas 2023, "Estimating means of bounded random variables by betting", JRSS-B;
Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Ann. Statist.): for a candidate mean m, a gambler staking a fixed fraction lam on X - m
multiplies his wealth by 1 + lam (X - m) per observation. If m is the truth his wealth is a nonnegative
martingale from 1, so by Ville's inequality it ever reaches 2/alpha with probability <= alpha/2. We
average a fixed grid of such bets (Waudby-Smith & Ramdas's "diversified Kelly"), upwards and downwards,
and keep the m whose averaged wealth stays below 2/alpha.
- Share (X in {0, 1}): the wealth (1 + lam (1 - m))^s (1 - lam m)^(n - s) is exact from the counts.
- Mean on [low, high]: the wealth needs every value, which the planner does not keep, so it is bounded
  below by a function of the count, sum and sum of squares through log(1 + t y) >= t y - psi(t) y^2 for
  y >= -1, psi(t) = -log(1 - t) - t (Fan, Grama & Liu 2015, Electron. J. Probab. 20): with c = m - low,
  lam S(m) - psi(lam c) / c^2 V(m), S(m) = sum(X - m), V(m) = sum((X - m)^2). A lower bound of a
  martingale is still covered by Ville. It adapts to the data's spread through V(m): ~40 % narrower
  than Hoeffding's normal mixture on a 1..5 scale. (A betting CS with data-chosen bets, or empirical
  Bernstein with predictable means, needs the whole sequence, so neither is usable here.)
Every bet's wealth falls as m rises (for the mean because log x <= (x - 1)/sqrt(x) for x >= 1), so the
rejected m form one interval; a bracketing root search returns its rejected end, never a narrower set.

Tuning: the bets' weights are a half-normal prior over lam * sigma with variance
(2 log(1/alpha) + log(1 + 2 log(1/alpha))) / TUNED_N: Robbins' normal mixture with Howard et al.'s
choice of rho, discretised, so the bounds are tightest near n = TUNED_N and within a few % of that
optimum from n = 100 to 100,000. A share's sigma = sqrt(m (1 - m)) is exact for each candidate m; a
mean's bets assume a spread of SPREAD times the scale (this moves the widths by a few %, never the
guarantee).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

ALPHA = 0.05  # the default error rate: the chance that the sequence ever misses the truth
TUNED_N = 300  # the sample size the bounds are tightest near (pilot cohorts of a few hundred)
BETS = 16  # bets in the mixture; more changes the width by well under 1 %
SPREAD = 0.25  # a mean's assumed standard deviation, as a fraction of its scale (tuning only)
MAX_FRACTION = 0.99  # a share's bet never stakes more than this much of the wealth
TOLERANCE = 1e-10  # of the root search, as a fraction of the scale


@dataclass(frozen=True)
class Bounds:
    lower: float
    upper: float
    n: int
    estimate: float  # the sample share / mean; nan when n == 0


def share_bounds(successes: int, n: int, *, alpha: float = ALPHA) -> Bounds:
    """The confidence sequence at this look for a share: `successes` of `n` Bernoulli observations."""
    _check_alpha(alpha)
    _check_n(n)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie between 0 and n (got successes={successes}, n={n}): "
                         "a share counts the members with an event among the members observed")
    if n == 0:
        return Bounds(0.0, 1.0, 0, math.nan)
    lower = _share_lower(successes, n, alpha)
    upper = 1.0 - _share_lower(n - successes, n, alpha)  # the same bound on the failures
    return Bounds(lower, upper, n, successes / n)


def mean_bounds(total: float, total_sq: float, n: int, *, low: float, high: float,
                alpha: float = ALPHA) -> Bounds:
    """The confidence sequence at this look for the mean of `n` values known to lie in [low, high],
    from their sum `total` and sum of squares `total_sq`."""
    _check_alpha(alpha)
    _check_n(n)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"the scale must be [low, high] with low below high (got low={low}, high={high})")
    if n == 0:
        return Bounds(float(low), float(high), 0, math.nan)
    total, total_sq = _checked_sums(total, total_sq, n, low, high)
    # Work on [0, 1]: the bounds do not depend on the units, and the tolerances become absolute.
    width = high - low
    t01 = (total - n * low) / width
    q01 = (total_sq - 2 * low * total + n * low * low) / width ** 2
    lower = _mean_lower(t01, q01, n, alpha)
    upper = 1.0 - _mean_lower(n - t01, n - 2 * t01 + q01, n, alpha)  # the reflected values 1 - x
    return Bounds(low + width * lower, low + width * upper, n, total / n)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1 (got {alpha}); 0.05 is a 5 % error rate")


def _check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"n must not be negative (got n={n}): it counts the observations")


def _checked_sums(total: float, total_sq: float, n: int, low: float, high: float) -> tuple[float, float]:
    """The sums, refused when no n values in [low, high] have them; rounding slack is clamped away."""
    slack = 1e-9 * n * max(abs(low), abs(high), 1.0) ** 2
    if not (math.isfinite(total) and math.isfinite(total_sq)):
        raise ValueError(f"the sums must be finite numbers (got total={total}, total_sq={total_sq})")
    if not n * low - slack <= total <= n * high + slack:
        raise ValueError(f"total={total} is impossible for n={n} values on the scale [{low}, {high}]: "
                         "a value lies outside the KPI's scale, so widen the scale or clip the values")
    total = min(max(total, n * low), n * high)
    least = total * total / n  # all values equal
    most = (low + high) * total - n * low * high  # every value at low or high
    if not least - slack <= total_sq <= most + slack:
        raise ValueError(f"total_sq={total_sq} is impossible for n={n} values on the scale [{low}, {high}] "
                         f"summing to {total}: it must lie between {least} and {most}")
    return total, min(max(total_sq, least), most)


@lru_cache(maxsize=32)
def _bets(alpha: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The bets u (= lam * sigma) and their log weights, which sum to 1: a half-normal prior over u with
    variance 1/rho, rho = TUNED_N / (2 log(1/alpha) + log(1 + 2 log(1/alpha))), on a log-spaced grid
    from 0.05 to 6 of its standard deviations."""
    rho = TUNED_N / (2 * math.log(1 / alpha) + math.log(1 + 2 * math.log(1 / alpha)))
    sd = 1 / math.sqrt(rho)
    us = [0.05 * sd * 120 ** (k / (BETS - 1)) for k in range(BETS)]
    mass = [u * math.exp(-rho * u * u / 2) for u in us]  # the density times du on a log grid
    total = sum(mass)
    return tuple(us), tuple(math.log(m / total) for m in mass)


def _log_sum_exp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def _share_lower(s: int, n: int, alpha: float) -> float:
    """The lowest share m not rejected by the upward bets, against threshold 2/alpha."""
    if s == 0:
        return 0.0
    us, log_weights = _bets(alpha)

    def log_wealth(m: float) -> float:
        if m <= 0.0:
            return math.inf
        q = 1.0 - m
        sigma = math.sqrt(m * q)
        logs = []
        for u, lw in zip(us, log_weights):
            # lam = u / sigma scales each bet to the candidate's own spread; capping it at MAX_FRACTION / m
            # keeps the wealth positive; both keep every bet's wealth falling as m rises
            lam = min(u / sigma, MAX_FRACTION / m)
            logs.append(lw + s * math.log1p(lam * q) + (n - s) * math.log1p(-lam * m))
        return _log_sum_exp(logs)

    share = s / n
    threshold = math.log(2 / alpha)
    guess = math.sqrt(2 * threshold * max(share * (1 - share), 1 / n) / n)
    return _lowest_kept(log_wealth, 0.0, share, threshold, guess)


def _mean_lower(t: float, q: float, n: int, alpha: float) -> float:
    """The lowest mean m in [0, 1] not rejected by the upward bets, for values in [0, 1] with sum t and
    sum of squares q, against threshold 2/alpha."""
    mean = t / n
    us, log_weights = _bets(alpha)
    lams = [u / SPREAD for u in us]

    def log_wealth(m: float) -> float:
        up = t - n * m  # S(m)
        spread = max(q - 2 * m * t + n * m * m, 0.0)  # V(m)
        logs = []
        for lam, lw in zip(lams, log_weights):
            bet = lam * m  # lam * c with c = m - low, on [0, 1]
            if bet >= 1.0:
                logs.append(-math.inf)  # a bet that could lose everything is not placed
                continue
            if bet < 1e-3:  # psi(s)/s^2 = 1/2 + s/3 + s^2/4 + ..., bounded above (never under-penalised)
                penalty = lam * lam * (0.5 + bet / 3 + bet * bet / (4 * (1 - bet)))
            else:
                penalty = (-math.log1p(-bet) - bet) / (m * m)  # psi(lam c) / c^2
            logs.append(lw + lam * up - penalty * spread)
        return _log_sum_exp(logs)

    threshold = math.log(2 / alpha)
    variance = max(q / n - mean * mean, 1 / n)
    return _lowest_kept(log_wealth, 0.0, mean, threshold, math.sqrt(2 * threshold * variance / n))


def _lowest_kept(log_wealth: Callable[[float], float], lowest: float, estimate: float, threshold: float,
                 radius: float) -> float:
    """Where a falling log_wealth drops below `threshold` on [lowest, estimate], from below: the result's
    wealth still reaches the threshold (or it is `lowest`), so every m below it is rejected too.

    `radius` is a first guess of estimate - result. The search runs on sqrt(log_wealth), which is nearly
    linear in m there, by Illinois' regula falsi inside a bracket that only ever shrinks."""
    goal = math.sqrt(threshold)

    def gap(m: float) -> float:  # >= 0: m is rejected
        wealth = log_wealth(m)
        return (math.sqrt(wealth) if wealth > 0 else 0.0) - goal

    accepted, f_acc = estimate, -goal  # the bets lose in expectation at the estimate itself
    step = max(radius, TOLERANCE)
    while True:  # step down from the estimate, doubling, until a rejected point
        rejected = max(estimate - step, lowest)
        f_rej = gap(rejected)
        if f_rej >= 0:
            break
        if rejected == lowest:
            return lowest
        accepted, f_acc = rejected, f_rej
        step *= 2
    if f_rej == math.inf:  # a share at m = 0 and below its first success: halve towards a finite gap
        while accepted - rejected > TOLERANCE:
            middle = (rejected + accepted) / 2
            f_mid = gap(middle)
            if f_mid < 0:
                accepted, f_acc = middle, f_mid
            elif f_mid == math.inf:
                rejected = middle
            else:
                rejected, f_rej = middle, f_mid
                break
        else:
            return rejected
    side = 0
    while accepted - rejected > TOLERANCE:
        width = accepted - rejected
        fraction = f_rej / (f_rej - f_acc)  # where the chord crosses zero
        middle = rejected + width * min(max(fraction, 0.01), 0.99)
        f_mid = gap(middle)
        if f_mid >= 0:
            rejected, f_rej = middle, f_mid
            if side == -1:
                f_acc /= 2  # Illinois: the accepted end stayed twice in a row; halving its gap pulls the chord to it
            side = -1
        else:
            accepted, f_acc = middle, f_mid
            if side == 1:
                f_rej /= 2
            side = 1
    return rejected
