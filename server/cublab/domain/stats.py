"""Summary statistics and Welch's t-test from sufficient statistics.

Every series of measurements (one metric of one variant) keeps running
`Moments`: n, mean, M2 (the sum of squared deviations from the mean), min and
max. A batch's moments are computed exactly (math.fsum, two passes) and merged
into the stored ones with Chan et al.'s parallel formula, which stays accurate
where the naive sum of squares loses every digit (a large mean, a small
spread). Everything a comparison shows is derived from them here. The Student t distribution is computed with the regularized
incomplete beta function (continued fraction, Numerical Recipes §6.4), so the
comparison needs no heavy numeric dependency at run time; tests check it
against published quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    stddev: float | None
    minimum: float
    maximum: float

    @property
    def stderr(self) -> float | None:
        if self.stddev is None or self.n < 2:
            return None
        return self.stddev / math.sqrt(self.n)


@dataclass(frozen=True)
class Moments:
    """What a series keeps: enough to merge another batch in and to derive its Summary.

    `n == 0` is the empty series (mean and m2 0, no min or max): merging into it gives the other side.
    """

    n: int
    mean: float
    m2: float
    minimum: float | None
    maximum: float | None

    def summary(self) -> Summary:
        if self.n < 1 or self.minimum is None or self.maximum is None:
            raise ValueError("an empty series has no summary")
        if self.n < 2:
            return Summary(self.n, self.mean, None, self.minimum, self.maximum)
        return Summary(self.n, self.mean, math.sqrt(max(self.m2, 0.0) / (self.n - 1)), self.minimum, self.maximum)


EMPTY = Moments(0, 0.0, 0.0, None, None)


def moments(values: Sequence[float]) -> Moments:
    """The moments of a batch, exactly rounded sums (math.fsum) around the exactly rounded mean."""
    n = len(values)
    if n == 0:
        return EMPTY
    mean = math.fsum(values) / n
    return Moments(n, mean, math.fsum([(x - mean) * (x - mean) for x in values]), min(values), max(values))


def merge(a: Moments, b: Moments) -> Moments:
    """Chan, Golub and LeVeque's pairwise update: the moments of the union of two disjoint sets of points."""
    if b.n == 0:
        return a
    if a.n == 0:
        return b
    assert a.minimum is not None and a.maximum is not None and b.minimum is not None and b.maximum is not None
    n = a.n + b.n
    delta = b.mean - a.mean
    return Moments(
        n,
        a.mean + delta * (b.n / n),
        a.m2 + b.m2 + delta * delta * (a.n * b.n / n),
        min(a.minimum, b.minimum),
        max(a.maximum, b.maximum),
    )


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return regularized_beta(df / 2.0, 0.5, df / (df + t * t))


def _t_pdf(t: float, df: float) -> float:
    return math.exp(
        math.lgamma((df + 1.0) / 2.0)
        - math.lgamma(df / 2.0)
        - 0.5 * math.log(df * math.pi)
        - (df + 1.0) / 2.0 * math.log1p(t * t / df)
    )


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """The t value below which a fraction `p` (0.5 < p < 1) of the distribution lies.

    Newton steps kept inside a shrinking bisection bracket: a handful of tail
    evaluations instead of ~40, which matters because a comparison asks for one
    quantile per variant and each tail evaluation is a slow continued fraction
    at large df. Cached: variants with the same n share it.
    """
    target = 2.0 * (1.0 - p)  # two-sided tail mass at the answer
    lo, hi = 0.0, 1.0
    while t_sf_two_sided(hi, df) > target:
        lo, hi = hi, hi * 2.0
    t = (lo + hi) / 2.0
    for _ in range(200):
        excess = t_sf_two_sided(t, df) - target  # falls as t grows
        if excess > 0:
            lo = t
        else:
            hi = t
        step = excess / (2.0 * _t_pdf(t, df))  # d/dt of the two-sided tail is -2 pdf(t)
        nxt = t + step
        if not lo < nxt < hi:
            nxt = (lo + hi) / 2.0
        if abs(nxt - t) < 1e-13 * max(1.0, t) or hi - lo < 1e-12:
            return nxt
        t = nxt
    return t


def confidence_interval(summary: Summary, level: float = 0.95) -> tuple[float, float] | None:
    """The two-sided `level` interval for the mean; None below two samples."""
    if summary.stderr is None:
        return None
    half = t_quantile(0.5 + level / 2.0, summary.n - 1) * summary.stderr
    return (summary.mean - half, summary.mean + half)


@dataclass(frozen=True)
class WelchResult:
    t: float
    df: float
    p_value: float


def welch_t_test(a: Summary, b: Summary) -> WelchResult | None:
    """Two-sided Welch's t-test of a.mean == b.mean; None when either side has n < 2."""
    if a.stddev is None or b.stddev is None:
        return None
    va, vb = a.stddev**2 / a.n, b.stddev**2 / b.n
    diff = a.mean - b.mean
    if va + vb == 0.0:
        # No spread at all: identical means are indistinguishable, different ones certain.
        return WelchResult(
            0.0 if diff == 0 else math.copysign(math.inf, diff), float(a.n + b.n - 2), 1.0 if diff == 0 else 0.0
        )
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va**2 / (a.n - 1) if va else 0.0) + (vb**2 / (b.n - 1) if vb else 0.0))
    return WelchResult(t, df, t_sf_two_sided(t, df))
