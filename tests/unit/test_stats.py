"""Statistics: t quantiles, Welch's test, and running moments merged batch by batch (the verdicts through the
tools: app/test_verdicts.py; summaries kept by result_log: app/test_summaries.py).

Reference values were computed once with scipy 1.17.1 (scipy.stats.t.ppf, 2 * scipy.stats.t.sf,
scipy.stats.ttest_ind(a, b, equal_var=False)) in a throwaway virtualenv; scipy is not a dependency.
The df=1 and df=4 quantiles also match printed t-tables (12.706, 2.776).
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def summarize(values: list[float]) -> stats.Summary:
    return stats.moments(values).summary()


def reference(values: list[float]) -> tuple[int, float, float | None, float, float]:
    """n, mean, stddev, min, max with exactly rounded sums: what the running moments must agree with."""
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else None
    return n, mean, sd, min(values), max(values)


def close(got: float | None, want: float | None, scale: float) -> bool:
    """Equal within float tolerance: relative, or absolute against the data's magnitude (a mean near 0)."""
    if got is None or want is None:
        return got is want
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12 * scale)


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


def test_merged_moments_keep_digits_on_large_means() -> None:
    """Batch by batch, a large mean and a small spread: Chan's merge keeps the spread, one-pass sums of squares do not."""
    rng = random.Random(7)
    noise = [rng.gauss(0.0, 0.01) for _ in range(1000)]
    values = [1e9 + x for x in noise]
    mean = sum(noise) / len(noise)
    true_sd = math.sqrt(sum((x - mean) ** 2 for x in noise) / (len(noise) - 1))
    running = stats.EMPTY
    for start in range(0, len(values), 37):
        running = stats.merge(running, stats.moments(values[start : start + 37]))
    assert running.summary().stddev == pytest.approx(true_sd, rel=1e-4)
    n, s, s2 = len(values), sum(values), sum(x * x for x in values)
    naive = math.sqrt(max(s2 - s * s / n, 0.0) / (n - 1))  # what one-pass sums of squares give: digits lost
    assert naive != pytest.approx(true_sd, rel=1e-2)


def test_empty_moments() -> None:
    assert stats.moments([]) == stats.EMPTY
    one = stats.moments([2.5])
    assert stats.merge(stats.EMPTY, one) == one == stats.merge(one, stats.EMPTY)
    with pytest.raises(ValueError):
        stats.EMPTY.summary()


VALUES = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([0.0, 1.0, -3.5e3, 1e9, 1e14]),
    batches=st.lists(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), min_size=1, max_size=12),
)
def test_moments_merged_in_any_batches_match_fsum(base: float, batches: list[list[float]]) -> None:
    """However the points arrive in batches, the merged moments give math.fsum's statistics."""
    batches = [[base + x for x in batch] for batch in batches]
    running = stats.EMPTY
    for batch in batches:
        running = stats.merge(running, stats.moments(batch))
    values = [x for batch in batches for x in batch]
    summary = running.summary()
    n, mean, sd, lo, hi = reference(values)
    scale = max(abs(x) for x in values) or 1.0
    assert (summary.n, summary.minimum, summary.maximum) == (n, lo, hi)
    assert close(summary.mean, mean, scale), (summary.mean, mean)
    assert close(summary.stddev, sd, scale), (summary.stddev, sd)


@settings(max_examples=200, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=60), st.integers(0, 60))
def test_merge_is_the_union(values: list[float], cut: int) -> None:
    """Merging the two halves of a sample gives the sample's moments, whatever the split."""
    cut = min(cut, len(values))
    merged = stats.merge(stats.moments(values[:cut]), stats.moments(values[cut:]))
    whole = stats.moments(values)
    scale = max(abs(x) for x in values) or 1.0
    assert (merged.n, merged.minimum, merged.maximum) == (whole.n, whole.minimum, whole.maximum)
    assert close(merged.mean, whole.mean, scale)
    assert math.isclose(merged.m2, whole.m2, rel_tol=1e-9, abs_tol=1e-12 * scale * scale * len(values))
