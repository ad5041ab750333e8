"""The governed workflow the framework examples share, written once against a `call(tool, arguments)`.

Each `*_agent.py` example loads cublab's tools through its framework's own MCP adapter and passes a
`call` that invokes those tool objects the way the framework does for a model; this file is the
"model": the fixed sequence of calls a good agent makes. It uses only the standard library, so it
runs in any framework's environment.

`call` returns the tool's result as a dict, or raises `Refused` with the error text exactly as the
framework hands it to the agent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

SPACE, UNIT = "web-prod", "handler"
BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs"}


class Refused(Exception):
    """A tool call the server refused; the message is what the agent reads."""


def arguments(description: str) -> argparse.Namespace:
    """The examples' command line: where cublab is and which database it keeps."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cublab", default=shutil.which("cublab") or "cublab", help="the cublab command")
    parser.add_argument("--db", default=os.environ.get("CUBLAB_DB"), help="SQLite file (default: cublab's own)")
    parser.add_argument("--agent", default="agent:example-1", help="identity recorded on everything the agent does")
    parser.add_argument("--url", help="a running `cublab serve --http` to use instead of starting one over stdio")
    parser.add_argument(
        "--token", default=os.environ.get("CUBLAB_TOKEN"), help="with --url: a token from `cublab tokens create`"
    )
    return parser.parse_args()


def http_headers(options: argparse.Namespace) -> dict[str, str]:
    """How an HTTP client names its agent: a bearer token, or (a `--no-auth` server on loopback) the header."""
    if options.token:
        return {"Authorization": f"Bearer {options.token}"}
    return {"X-Cublab-Agent": options.agent}


def serve_args(options: argparse.Namespace) -> list[str]:
    """`cublab serve` over stdio for this agent; the host starts it, as MCP hosts do."""
    return ["serve", "--agent", options.agent, *(["--db", options.db] if options.db else [])]


def server_env() -> dict[str, str]:
    """The environment the server process gets: cublab's own settings (CUBLAB_*) and the basics.
    (MCP stdio clients pass only a few variables by default.)"""
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k.startswith("CUBLAB_") or k in keep}


def parse(text: str) -> dict[str, Any]:
    """A tool's text result is its structured result as JSON."""
    return json.loads(text)


async def workflow(call: Call, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Spawn, experiment, two variants, results, compare, destroy, promote; and one refused call."""
    try:
        await call("sandbox_spawn", {"name": "prod-test", "purpose": "try it live", "context": "production"})
    except Refused as refused:
        say(f"REFUSED sandbox_spawn: {refused}")
    else:
        raise SystemExit("a production sandbox was accepted; it must be refused")

    sandbox = await call(
        "sandbox_spawn",
        {"name": "tune-memory", "purpose": "find the memory size with the best p95", "ttl": "2h",
         "labels": [{"key": "team", "value": "web"}], "explanation": "example run"},
    )  # fmt: skip
    say(f"1. sandbox {sandbox['id']} expires {sandbox['expires_at']}")
    experiment = await call(
        "experiment_create",
        {"sandbox_id": sandbox["id"], "name": "memory vs p95", "hypothesis": "more memory lowers p95",
         "objective_metric": "p95_ms", "direction": "minimize", "target_space": SPACE, "target_unit": UNIT},
    )  # fmt: skip
    small = await call(
        "variant_log",
        {
            "experiment_id": experiment["id"],
            "name": "m1024",
            "configuration": json.dumps({**BASE, "lambdaMemory": 1024}),
        },
    )
    large = await call(
        "variant_log",
        {"experiment_id": experiment["id"], "name": "m2048",
         "configuration": "lambdaMemory: 2048\nlambdaTimeout: 30\neventSource: sqs\n", "description": "YAML text"},
    )  # fmt: skip
    say(f"2. experiment {experiment['id']}: variants {small['variant']['id']}, {large['variant']['id']}")
    points = [
        {"variant": name, "metric": "p95_ms", "value": mean + (run % 3), "repetition": run}
        for name, mean in (("m1024", 180.0), ("m2048", 120.0))
        for run in range(6)
    ]
    logged = await call("result_log", {"experiment_id": experiment["id"], "points": points})
    say(f"3. logged {logged['points']} measurements")
    comparison = await call("experiment_compare", {"experiment_id": experiment["id"]})
    winner = comparison["winner"]
    say(f"4. verdict {comparison['verdict']}, winner {winner}")
    if winner is None:
        raise SystemExit("no winner: the measurements should separate the variants clearly")
    destroyed = await call("sandbox_destroy", {"sandbox_id": sandbox["id"]})
    say(f"5. sandbox {destroyed['status']}")
    proposal = await call(
        "variant_promote",
        {"variant_id": winner, "rationale": "2048 MB lowers p95 by a third at the same cost",
         "confidence": 0.8, "model": "scripted"},
    )  # fmt: skip
    say(f"6. proposal {proposal['id']} {proposal['state']}, risk {proposal['risk']['level']}; humans decide")
    say(f"WORKFLOW OK {proposal['id']}")
    return proposal


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(1)
