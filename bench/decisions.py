"""Bypass decisions per second (issue 4): the pure engine in-process, and
`bypass_check` through the in-process MCP client (engine + secret gate + decision
log + audit event, one write transaction each), against a bare MCPServer tool
that returns a constant, measured in the same run.

Target (issue 12): bypass_check at 0.3 or more of the bare tool's call rate. The
figures say what a framework that calls bypass_check before every out-of-band
change can expect.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread

# A realistic request: a preview Deployment with ephemeral labels and its document.
REQUEST = {
    "context": "preview",
    "labels": [
        {"key": "ephemeral", "value": "true"},
        {"key": "ttl", "value": "2h"},
        {"key": "bypass-confighub", "value": "true"},
    ],
    "ttl": "2h",
    "document": json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web-pr-123", "namespace": "preview-123", "labels": {"app": "web"}},
            "spec": {
                "replicas": 1,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "web:pr-123",
                                "env": [
                                    {
                                        "name": "DB_PASSWORD",
                                        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                                    }
                                ],
                            }
                        ]
                    }
                },
            },
        }
    ),
}


def varied(n: int) -> dict:
    """REQUEST with its name, namespace and image changed: the secret gate sees new strings each call."""
    doc = json.loads(REQUEST["document"])
    doc["metadata"].update(name=f"web-pr-{n}", namespace=f"preview-{n}")
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = f"registry.example.com/web:pr-{n}-{n * 7919:x}"
    return {**REQUEST, "document": json.dumps(doc)}


def engine_rate(seconds: float) -> float:
    from cublab.domain.bypass import ChangeFacts, decide
    from cublab.policies import load_policy

    policy = load_policy().policy.bypass
    # The engine takes what the tool hands it: labels as a mapping, the document parsed.
    labels = {pair["key"]: pair["value"] for pair in REQUEST["labels"]}
    facts = ChangeFacts(**{**REQUEST, "labels": labels, "document": json.loads(REQUEST["document"])})
    decide(facts, policy)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        decide(facts, policy)
        n += 1
    return n / (time.perf_counter() - start)


async def mcp_rates(db: Path, calls: int) -> tuple[float, float]:
    from mcp import Client
    from mcp.server import MCPServer

    from cublab.config import Settings
    from cublab.mcp_server import build_server
    from cublab.runtime import Runtime

    bare = MCPServer("bare", log_level="WARNING")

    @bare.tool()
    async def constant() -> dict[str, str]:
        return {"verdict": "bypass"}

    runtime = Runtime(Settings(db=str(db), agent="agent:bench-decisions", policy_path=None))
    async with Client(build_server(runtime)) as cublab, Client(bare) as baseline:
        for _ in range(20):  # warm up: imports, migrations, the secret detector
            assert not (await cublab.call_tool("bypass_check", REQUEST)).is_error
            await baseline.call_tool("constant", {})
        requests = [varied(n) for n in range(calls)]  # new names and values each call, as real changes have
        start = time.perf_counter()
        for request in requests:
            result = await cublab.call_tool("bypass_check", request)
            assert not result.is_error, result.content[0].text
        cublab_rate = calls / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(calls):
            await baseline.call_tool("constant", {})
        bare_rate = calls / (time.perf_counter() - start)
    runtime.close()
    return cublab_rate, bare_rate


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds, calls, seconds = (1, 30, 0.2) if args.quick else (5, 300, 1.0)
    header("bench/decisions.py: bypass decisions per second", args, rounds=rounds, calls_per_round=calls)
    verdicts = Verdicts(args)
    engine, through_mcp, bare = [], [], []
    for _ in range(rounds):
        engine.append(engine_rate(seconds))
        with tempfile.TemporaryDirectory() as tmp:
            c, b = anyio.run(mcp_rates, Path(tmp) / "bench.db", calls)
        through_mcp.append(c)
        bare.append(b)
    print(f"  engine decide() in-process: median {median(engine):,.0f} decisions/s ({spread(engine)})")
    print(
        f"  bypass_check through MCP (logged, audited): median {median(through_mcp):,.0f} decisions/s ({spread(through_mcp)})"
    )
    print(f"  bare MCPServer constant tool (baseline): median {median(bare):,.0f} calls/s ({spread(bare)})")
    ratio = median(through_mcp) / median(bare)
    print(f"  ratio bypass_check/bare: {ratio:.3f} (bare/bypass_check {1 / ratio:.2f}x)")
    verdicts.check("bypass_check >= 0.3 of the bare tool's call rate", ratio >= 0.3, f"{ratio:.3f}")
    verdicts.exit()


if __name__ == "__main__":
    main()
