"""A batch as columns and its digest: the documented layout (support/digest.py writes it out with struct),
whatever mix of series, steps and repetitions a batch holds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cublab.domain import points
from support.digest import points_digest

POINT = st.fixed_dictionaries(
    {
        "variant": st.sampled_from(["var_a", "b", "ü-名"]),
        "metric": st.sampled_from(["m", "latency_ms"]),
        "value": st.floats(-1e15, 1e15),
    },
    optional={"step": st.one_of(st.none(), st.integers(0, 2**63 - 1)), "repetition": st.integers(0, 2**31 - 1)},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(POINT, min_size=1, max_size=50))
def test_digest_is_the_documented_layout(batch: list[dict]) -> None:
    cols = points.columns(batch)
    expected = [(p["variant"], p["metric"], p["value"], p.get("step"), p.get("repetition")) for p in batch]
    assert points.digest(cols) == points_digest(expected)
    assert [cols.series[i] for i in cols.index] == [(p["variant"], p["metric"]) for p in batch]
    groups = cols.by_series()
    for s, values in enumerate(groups):
        assert values == [p["value"] for p in batch if (p["variant"], p["metric"]) == cols.series[s]]


def test_renaming_merges_series_that_become_one() -> None:
    """A variant named by its name in one point and by its id in another is one series once resolved."""
    batch = [
        {"variant": "fast", "metric": "m", "value": 1.0},
        {"variant": "var_1", "metric": "m", "value": 2.0},
        {"variant": "slow", "metric": "m", "value": 3.0},
    ]
    cols = points.columns(batch).renamed([("var_1", "m"), ("var_1", "m"), ("var_2", "m")])
    assert cols.series == [("var_1", "m"), ("var_2", "m")] and cols.index == [0, 0, 1]
    assert cols.by_series() == [[1.0, 2.0], [3.0]]
    assert points.digest(cols) == points_digest(
        [("var_1", "m", 1.0, None, None), ("var_1", "m", 2.0, None, None), ("var_2", "m", 3.0, None, None)]
    )


def test_digest_is_stable() -> None:
    """A known answer: changing the layout changes this value, and must change the documentation with it."""
    batch = [
        {"variant": "var_a", "metric": "m", "value": 1.5, "step": 3},
        {"variant": "var_b", "metric": "m", "value": -2.0},
    ]
    assert points.digest(points.columns(batch)) == KNOWN


KNOWN = "sha256:0f3e8effb459b505259cd8435706d9fca7f43c9f1bdeaced89e2b49444b41d3d"
