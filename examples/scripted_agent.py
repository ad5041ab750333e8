"""A minimal scripted agent: the template to copy when you wire your own agent to cublab.

It starts `cublab serve` over stdio and walks the seed's workflow with the MCP client:
spawn a sandbox, log three variants, record measurements, compare, destroy. Replace
`measure()` with your real benchmark and keep the rest: every step is one tool call, and
every error comes back as a tool result whose text tells you what to fix.

    python examples/scripted_agent.py [--db PATH] [--agent agent:<type>-<session>]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

VARIANTS = {  # name -> configuration to try
    "workers-2": {"workers": 2, "queue": "sqs"},
    "workers-4": {"workers": 4, "queue": "sqs"},
    "workers-8": {"workers": 8, "queue": "sqs"},
}


def measure(config: dict[str, Any], run: int) -> float:
    """Stand-in for a real benchmark: p95 latency in ms, with a little run-to-run noise."""
    return 400 / config["workers"] + 50 + (run % 3) * 2.5


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:  # a business error: the text names the field and the limit
        raise SystemExit(f"{tool} refused: {result.content[0].text}")
    return result.structured_content


async def main(db: str, agent: str) -> None:
    # An MCP host would run `cublab serve` the same way (command "cublab", args ["serve"]).
    # The SDK passes the server only HOME, PATH and the like; pass the audit key's settings if you set any.
    audit_env = {k: v for k, v in os.environ.items() if k.startswith("CUBLAB_AUDIT_")}
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "cublab", "serve", "--db", db, "--agent", agent], env=audit_env
    )
    async with Client(server) as client:
        sandbox = await call(
            client,
            "sandbox_spawn",
            name="worker-tuning",
            purpose="find the worker count with the best p95",
            ttl="1h",
            explanation="example: tune the worker pool",
        )
        print(f"1. spawned {sandbox['id']}, expires {sandbox['expires_at']}")

        experiment = await call(
            client,
            "experiment_create",
            sandbox_id=sandbox["id"],
            name="workers vs p95",
            hypothesis="more workers lower p95 latency",
            objective_metric="p95_ms",
            direction="minimize",
        )
        for name, config in VARIANTS.items():
            await call(
                client, "variant_log", experiment_id=experiment["id"], name=name, configuration=json.dumps(config)
            )
        print(f"2. experiment {experiment['id']} with variants {', '.join(VARIANTS)}")

        points = [
            {"variant": name, "metric": "p95_ms", "value": measure(config, run), "repetition": run}
            for name, config in VARIANTS.items()
            for run in range(6)
        ]
        logged = await call(client, "result_log", experiment_id=experiment["id"], points=points)
        print(f"3. logged {logged['points']} measurements")

        comparison = await call(client, "experiment_compare", experiment_id=experiment["id"])
        for row in comparison["variants"]:
            print(f"   #{row['rank']} {row['name']:<10} n={row['n']} mean={row['mean']:.1f} ms")
        print(f"   verdict: {comparison['verdict']}: {comparison['summary']}")

        destroyed = await call(client, "sandbox_destroy", sandbox_id=sandbox["id"], explanation="experiment finished")
        print(f"4. sandbox {destroyed['id']} is {destroyed['status']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLite file or SQLAlchemy URL (default: a temporary file)")
    parser.add_argument(
        "--agent", default="agent:example-scripted", help="the identity recorded on everything this agent does"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, args.db or str(Path(tmp) / "cublab.db"), args.agent)
    print(f"database: {args.db}" if args.db else "database: temporary, now deleted (pass --db to keep it)")
