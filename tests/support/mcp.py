"""Calling cublab's tools through an MCP client, and a finished experiment to promote from."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client


def pairs(labels: dict[str, str]) -> list[dict[str, str]]:
    """Labels as the tools take them: a list of {key, value} pairs."""
    return [{"key": k, "value": v} for k, v in labels.items()]


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {result.content[0].text}"
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a ToolError; return the message the agent reads."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    text = result.content[0].text
    assert "Traceback" not in text
    return text


async def finished_experiment(
    client: Client,
    space: str,
    unit: str,
    base: dict[str, Any],
    changes=({"lambdaMemory": 1024}, {"lambdaMemory": 2048}),
    means=(200.0, 120.0),
) -> tuple[dict, list[dict]]:
    """A finished experiment on `space/unit`: one variant per change over `base`, 10 points each; the last wins clearly."""
    sandbox = await call(client, "sandbox_spawn", name="tune", purpose="tune the handler", ttl="2h")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="memory",
        hypothesis="more memory is faster",
        objective_metric="p95",
        direction="minimize",
        target_space=space,
        target_unit=unit,
    )
    variants = []
    for n, change in enumerate(changes):
        variants.append(
            (
                await call(
                    client,
                    "variant_log",
                    experiment_id=exp["id"],
                    name=f"v{n}",
                    configuration=json.dumps({**base, **change}),
                )
            )["variant"]
        )
    points = [
        {"variant": v["id"], "metric": "p95", "value": mean + (k % 5)}
        for v, mean in zip(variants, means, strict=True)
        for k in range(10)
    ]
    await call(client, "result_log", experiment_id=exp["id"], points=points)
    return exp, variants
