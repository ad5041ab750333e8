"""The workflow's spine through the in-process MCP client, on every configured database."""

import json

import pytest

from support.mcp import call

pytestmark = pytest.mark.anyio


async def test_spawn_experiment_variants_results_compare(any_client) -> None:
    sandbox = await call(any_client, "sandbox_spawn", name="smoke", purpose="smoke test", ttl="1h")
    experiment = await call(
        any_client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="latency",
        direction="minimize",
    )
    a = (
        await call(
            any_client, "variant_log", experiment_id=experiment["id"], name="a", configuration=json.dumps({"x": 1})
        )
    )["variant"]
    b = (await call(any_client, "variant_log", experiment_id=experiment["id"], name="b", configuration="x: 2"))[
        "variant"
    ]
    points = [{"variant": a["id"], "metric": "latency", "value": 10.0 + k % 3} for k in range(6)]
    points += [{"variant": "b", "metric": "latency", "value": 20.0 + k % 3} for k in range(6)]
    logged = await call(any_client, "result_log", experiment_id=experiment["id"], points=points)
    assert logged["points"] == 12
    comparison = await call(any_client, "experiment_compare", experiment_id=experiment["id"])
    assert comparison["verdict"] == "winner"
    assert comparison["winner"] == a["id"]
    assert [v["variant_id"] for v in comparison["variants"]] == [a["id"], b["id"]]
