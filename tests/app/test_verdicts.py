"""Comparison verdicts, end to end through the tools (the aggregates run in SQL).

The reference figures are scipy's, as in unit/test_stats.py."""

from __future__ import annotations

import json
import math
import random

import pytest

from support.mcp import call


async def make(client, direction: str, data: dict[str, list[float]], metric: str = "m") -> tuple[dict, dict[str, str]]:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric=metric,
        direction=direction,
    )
    ids = {}
    for k, name in enumerate(data):
        ids[name] = (
            await call(client, "variant_log", experiment_id=exp["id"], name=name, configuration=json.dumps({"k": k}))
        )["variant"]["id"]
    points = [{"variant": name, "metric": metric, "value": float(v)} for name, values in data.items() for v in values]
    if points:
        await call(client, "result_log", experiment_id=exp["id"], points=points)
    return exp, ids


@pytest.mark.anyio
async def test_winner_when_significant(client) -> None:
    exp, ids = await make(client, "minimize", {"slow": [20, 22, 24, 26, 28], "fast": [10, 11, 12, 13, 14]})
    c = await call(client, "experiment_compare", experiment_id=exp["id"])
    assert c["verdict"] == "winner" and c["winner"] == ids["fast"] and c["runner_up"] == ids["slow"]
    assert c["p_value"] == pytest.approx(0.000299143232052741, rel=1e-8)
    assert c["confidence"] == pytest.approx(1 - 0.000299143232052741, rel=1e-9)
    assert "fast" in c["summary"]


@pytest.mark.anyio
async def test_maximize_ranks_descending(client) -> None:
    exp, ids = await make(
        client, "maximize", {"low": [10, 11, 12, 13, 14], "mid": [15, 16, 17, 18, 19], "high": [20, 22, 24, 26, 28]}
    )
    c = await call(client, "experiment_compare", experiment_id=exp["id"])
    assert [v["variant_id"] for v in c["variants"]] == [ids["high"], ids["mid"], ids["low"]]
    assert [v["rank"] for v in c["variants"]] == [1, 2, 3]
    assert c["verdict"] == "winner" and c["winner"] == ids["high"] and c["runner_up"] == ids["mid"]


@pytest.mark.anyio
async def test_no_significant_difference(client) -> None:
    exp, ids = await make(
        client, "minimize", {"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 2.0]}
    )
    c = await call(client, "experiment_compare", experiment_id=exp["id"])
    assert c["verdict"] == "no_significant_difference"
    assert c["winner"] is None and c["leader"] == ids["a"]
    assert c["p_value"] == pytest.approx(0.4917046142572305, rel=1e-8)


@pytest.mark.anyio
async def test_not_enough_data_below_min_samples(client, runtime) -> None:
    need = runtime.policy.policy.compare.min_samples
    exp, _ids = await make(
        client, "minimize", {"a": [1.0] * (need - 1) + [1.1], "b": [50.0 + k for k in range(need - 1)]}
    )
    c = await call(client, "experiment_compare", experiment_id=exp["id"])
    assert c["verdict"] == "not_enough_data" and c["winner"] is None and c["p_value"] is None
    assert c["min_samples"] == need and f"({need - 1})" in c["summary"]
    await call(client, "result_log", experiment_id=exp["id"], points=[{"variant": "b", "metric": "m", "value": 55.0}])
    assert (await call(client, "experiment_compare", experiment_id=exp["id"]))["verdict"] == "winner"


@pytest.mark.anyio
async def test_single_variant_is_not_enough(client) -> None:
    exp, ids = await make(client, "minimize", {"only": [1, 2, 3, 4, 5, 6], "unmeasured": []})
    c = await call(client, "experiment_compare", experiment_id=exp["id"])
    assert c["verdict"] == "not_enough_data" and c["leader"] == ids["only"] and c["runner_up"] is None
    assert [(v["name"], v["rank"], v["n"]) for v in c["variants"]] == [("only", 1, 6), ("unmeasured", None, 0)]


@pytest.mark.anyio
async def test_other_metric_and_empty_experiment(client) -> None:
    exp, _ids = await make(client, "minimize", {"a": [1, 2, 3, 4, 5], "b": [9, 8, 7, 6, 5]})
    c = await call(client, "experiment_compare", experiment_id=exp["id"], metric="errors")
    assert c["metric"] == "errors" and c["is_objective"] is False and c["verdict"] == "not_enough_data"
    assert all(v["n"] == 0 for v in c["variants"])


@pytest.mark.anyio
async def test_compare_on_large_means_through_sql(client) -> None:
    rng = random.Random(3)
    a = [1e9 + rng.gauss(0.0, 0.01) for _ in range(200)]
    b = [1e9 + 1.0 + rng.gauss(0.0, 0.01) for _ in range(200)]
    exp, ids = await make(client, "minimize", {"a": a, "b": b})
    c = await call(client, "experiment_compare", experiment_id=exp["id"])
    by = {v["name"]: v for v in c["variants"]}
    for name, values in (("a", a), ("b", b)):
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))
        assert by[name]["stddev"] == pytest.approx(sd, rel=1e-3)
        assert by[name]["mean"] == pytest.approx(mean, rel=1e-15)
    assert c["verdict"] == "winner" and c["winner"] == ids["a"]
