"""Statistics: t quantiles, Welch's test and the shifted variance (the verdicts through the tools: app/test_verdicts.py).

Reference values were computed once with scipy 1.17.1 (scipy.stats.t.ppf, 2 * scipy.stats.t.sf,
scipy.stats.ttest_ind(a, b, equal_var=False)) in a throwaway virtualenv; scipy is not a dependency.
The df=1 and df=4 quantiles also match printed t-tables (12.706, 2.776).
"""

from __future__ import annotations

import math
import random

import pytest

from cublab.domain import stats

# (p, df, scipy.stats.t.ppf(p, df))
QUANTILES = [
    (0.975, 1, 12.706204736174694),
    (0.975, 2, 4.302652729749462),
    (0.975, 4, 2.7764451051977934),
    (0.975, 9, 2.262157162798205),
    (0.975, 30, 2.0422724563012378),
    (0.975, 1000, 1.9623390808264083),
    (0.95, 10, 1.8124611228116756),
    (0.995, 5, 4.032142983555228),
    (0.975, 2.5, 3.5746548420036817),
    (0.975, 17.3, 2.1070320037534676),
]
# (t, df, 2 * scipy.stats.t.sf(|t|, df))
TWO_SIDED = [
    (2.0, 5, 0.10193947882985835),
    (0.5, 3, 0.651447964848151),
    (10.0, 2, 0.00985245702332569),
    (1.96, 1e6, 0.04999606758526985),
    (3.5, 12.7, 0.004043839925700646),
    (0.0, 7, 1.0),
    (-2.0, 5, 0.10193947882985835),
]
# (a, b, t statistic, Welch df, p) from scipy.stats.ttest_ind(a, b, equal_var=False)
WELCH = [
    ([10, 11, 12, 13, 14], [20, 22, 24, 26, 28], -7.58946638440411, 5.882352941176471, 0.000299143232052741),
    (
        [5.1, 4.9, 5.3, 5.0, 5.2, 4.8],
        [5.4, 5.6, 5.2, 5.9, 5.5, 5.3, 5.7],
        -3.9054714928197134,
        10.923060780949628,
        0.002485688072871255,
    ),
    (
        [1.0, 2.0, 3.0, 4.0, 5.0],
        [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 2.0],
        -0.7148938759235873,
        9.593434894177808,
        0.4917046142572305,
    ),
]


def summarize(values: list[float], shift: float = 0.0) -> stats.Summary:
    d = [v - shift for v in values]
    return stats.summary_from_shifted(len(values), min(values), max(values), shift, sum(d), sum(x * x for x in d))


@pytest.mark.parametrize(("p", "df", "expected"), QUANTILES)
def test_t_quantiles_match_scipy(p: float, df: float, expected: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("t", "df", "expected"), TWO_SIDED)
def test_two_sided_tail_matches_scipy(t: float, df: float, expected: float) -> None:
    assert stats.t_sf_two_sided(t, df) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("a", "b", "t", "df", "p"), WELCH)
def test_welch_matches_scipy(a, b, t, df, p) -> None:
    result = stats.welch_t_test(summarize(a), summarize(b))
    assert result.t == pytest.approx(t, rel=1e-9)
    assert result.df == pytest.approx(df, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-8)
    swapped = stats.welch_t_test(summarize(b), summarize(a))
    assert swapped.t == pytest.approx(-t, rel=1e-9) and swapped.p_value == pytest.approx(p, rel=1e-8)


def test_welch_edge_cases() -> None:
    assert stats.welch_t_test(summarize([1.0]), summarize([1.0, 2.0])) is None
    same = stats.welch_t_test(summarize([3.0] * 5), summarize([3.0] * 5))
    assert same.p_value == 1.0
    apart = stats.welch_t_test(summarize([3.0] * 5), summarize([4.0] * 5))
    assert apart.p_value == 0.0 and apart.t == -math.inf


def test_confidence_interval() -> None:
    s = summarize([10, 11, 12, 13, 14])
    low, high = stats.confidence_interval(s, 0.95)
    half = 2.7764451051977934 * math.sqrt(2.5) / math.sqrt(5)
    assert (low, high) == (pytest.approx(12 - half, rel=1e-12), pytest.approx(12 + half, rel=1e-12))
    assert stats.confidence_interval(summarize([7.0]), 0.95) is None


def test_summary_of_one_point() -> None:
    s = summarize([4.5])
    assert (s.n, s.mean, s.stddev, s.minimum, s.maximum, s.stderr) == (1, 4.5, None, 4.5, 4.5, None)


def test_shifted_variance_keeps_digits_on_large_means() -> None:
    rng = random.Random(7)
    noise = [rng.gauss(0.0, 0.01) for _ in range(1000)]
    values = [1e9 + x for x in noise]
    mean = sum(noise) / len(noise)
    true_sd = math.sqrt(sum((x - mean) ** 2 for x in noise) / (len(noise) - 1))
    shifted = summarize(values, shift=values[0])
    assert shifted.stddev == pytest.approx(true_sd, rel=1e-4)
    naive = summarize(values, shift=0.0)  # what one-pass sums of squares give: digits lost
    assert naive.stddev != pytest.approx(true_sd, rel=1e-2)
