"""Anytime-valid confidence sequences for a share and for a bounded mean, from running sums.

The gates are looked at every controller round, so an interval valid at one fixed sample size would pass by
chance far more often than its stated error rate. A confidence sequence holds at every n at once:
P(some n has the true value outside its bounds) <= alpha, however often, and for however long, it is read.

Closed form: the two-sided normal-mixture boundary (Robbins 1970; Howard, Ramdas, McAuliffe, Sekhon 2021,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", eq. (14)). Values in [low, high] are
sub-Gaussian with sigma = (high - low) / 2 (Hoeffding), a share's with sigma = 1/2, so with V = sigma^2 n,
|S_n - n mu| < sqrt((V + rho) log((V + rho) / (rho alpha^2))) for every n, with probability >= 1 - alpha.
It needs the count and the sum only (no whole sequence, which a betting sequence would need).
`rho` is tuned so that the bound is tightest around `TUNED_FOR` observations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05  # the default error rate
TUNED_FOR = 200  # observations around which the boundary is tightest (a pilot's size)


@dataclass(frozen=True)
class Bounds:
    lower: float
    upper: float
    n: int
    estimate: float  # the sample share / mean


def _rho(sigma2: float, alpha: float) -> float:
    """The mixture's variance: optimal for intrinsic time sigma^2 * TUNED_FOR (Howard et al., eq. (15))."""
    log_term = 2 * math.log(1 / alpha)
    return sigma2 * TUNED_FOR / (log_term + math.log(1 + log_term))


def _radius(n: int, sigma2: float, alpha: float) -> float:
    v = sigma2 * n
    rho = _rho(sigma2, alpha)
    return math.sqrt((v + rho) * math.log((v + rho) / (rho * alpha * alpha))) / n


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}")


def share_bounds(successes: int, n: int, *, alpha: float = ALPHA) -> Bounds:
    """The confidence sequence of a share (Bernoulli mean) after `successes` of `n`."""
    _check_alpha(alpha)
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Bounds(0.0, 1.0, 0, 0.0)
    estimate = successes / n
    radius = _radius(n, 0.25, alpha)
    return Bounds(max(0.0, estimate - radius), min(1.0, estimate + radius), n, estimate)


def mean_bounds(total: float, total_sq: float, n: int, *, low: float, high: float, alpha: float = ALPHA) -> Bounds:
    """The confidence sequence of a mean of `n` values in [low, high] that add up to `total` (`total_sq`, the
    sum of their squares, is accepted for callers that keep it; this bound does not need it)."""
    _check_alpha(alpha)
    if not low < high:
        raise ValueError(f"the scale needs low < high, got [{low}, {high}]")
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    if n == 0:
        return Bounds(low, high, 0, low)
    estimate = total / n
    if not low - 1e-9 <= estimate <= high + 1e-9:
        raise ValueError(f"a mean of {estimate} lies outside the scale [{low}, {high}]")
    radius = _radius(n, ((high - low) / 2) ** 2, alpha)
    return Bounds(max(low, estimate - radius), min(high, estimate + radius), n, estimate)
