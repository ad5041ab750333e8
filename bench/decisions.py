"""Bypass decisions per second (issue 4): the pure engine in-process, and
`bypass_check` through the in-process MCP client (engine + secret gate + decision
log + audit event with its MAC and signed witness checkpoint, one write transaction
each), against bare MCPServer tools measured in the same run.

Target (issue 12): bypass_check at 0.3 or more of a bare tool's call rate. Two bare
tools are measured, and both ratios printed: one with bypass_check's arguments and
answer model returning a stored answer on a worker thread (the shape of the call,
with nothing of cublab's in it: the verdict is taken against it), and one async tool
taking nothing and returning a two-key constant. The second is not a reachable
baseline for this call: the same-shape tool itself runs at about a quarter of its
rate (the thread hop, argument validation, and the client validating a structured
answer against its output schema), so no implementation of bypass_check could reach
0.3 of it. A third tool commits one row per call to SQLite, for how much any durable
decision log pays. The figures say what a framework that calls bypass_check before
every out-of-band change can expect.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread
from cublab.app.outputs import BypassAnswer  # here: the same-shape tool's annotations are read from this module

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


def durable_bare(db: Path) -> object:
    """A bare MCPServer tool that does the least a logged decision must: commit one row per call to SQLite (WAL,
    synchronous=NORMAL, as cublab runs it) on a worker thread. Not a target's baseline: it says how much of
    bypass_check's cost any durable decision log pays through this SDK, and how much is cublab's own."""
    import sqlite3
    import threading

    from mcp.server import MCPServer

    conn = sqlite3.connect(db.with_name("durable.db"), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE decision (id INTEGER PRIMARY KEY, request TEXT NOT NULL, verdict TEXT NOT NULL)")
    lock = threading.Lock()
    server = MCPServer("durable", log_level="WARNING")

    @server.tool()
    def logged(context: str, document: str) -> dict[str, str]:
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO decision (request, verdict) VALUES (?, ?)", (document, "bypass"))
            conn.execute("COMMIT")
        return {"verdict": "bypass"}

    return server


def same_shape_bare(answer: dict) -> object:
    """A bare MCPServer tool with bypass_check's arguments and answer model, on a worker thread, returning a
    stored answer: what the SDK alone costs for a call of this shape (argument validation, the thread hop,
    serialising the answer, the client validating it against its output schema). Not a target's baseline."""
    from mcp.server import MCPServer

    stored = BypassAnswer.model_validate(answer)
    server = MCPServer("same-shape", log_level="WARNING")

    @server.tool()
    def decide(
        context: str, labels: list[dict[str, str]] | None = None, ttl: str = "", document: str = ""
    ) -> BypassAnswer:
        # (Plain `str`: the SDK would parse a `str | None` argument holding JSON text into an object.)
        return stored

    return server


async def mcp_rates(db: Path, calls: int) -> tuple[float, float, float, float]:
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
    async with Client(build_server(runtime)) as first:
        answer = (await first.call_tool("bypass_check", REQUEST)).structured_content
    async with (
        Client(build_server(runtime)) as cublab,
        Client(bare) as baseline,
        Client(durable_bare(db)) as durable,  # type: ignore[arg-type]
        Client(same_shape_bare(answer)) as shaped,  # type: ignore[arg-type]
    ):
        for _ in range(20):  # warm up: imports, migrations, the secret detector
            assert not (await cublab.call_tool("bypass_check", REQUEST)).is_error
            assert not (await shaped.call_tool("decide", REQUEST)).is_error
            await baseline.call_tool("constant", {})
            await durable.call_tool("logged", {"context": "preview", "document": REQUEST["document"]})
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
        start = time.perf_counter()
        for request in requests:
            await durable.call_tool("logged", {"context": "preview", "document": request["document"]})
        durable_rate = calls / (time.perf_counter() - start)
        start = time.perf_counter()
        for request in requests:
            await shaped.call_tool("decide", request)
        shaped_rate = calls / (time.perf_counter() - start)
    runtime.close()
    return cublab_rate, bare_rate, durable_rate, shaped_rate


def use_case_seconds(db: Path, calls: int) -> float:
    """bypass_check's use case called directly (no MCP): the request already validated, per call."""
    from cublab.app.inputs import BypassCheck
    from cublab.config import Settings
    from cublab.runtime import Runtime

    runtime = Runtime(Settings(db=str(db.with_name("direct.db")), agent="agent:bench-decisions", policy_path=None))
    commands = [BypassCheck.model_validate(varied(n)) for n in range(calls + 20)]
    for command in commands[:20]:
        runtime.bypass.check(command, runtime.agent)
    start = time.perf_counter()
    for command in commands[20:]:
        runtime.bypass.check(command, runtime.agent)
    elapsed = (time.perf_counter() - start) / calls
    runtime.close()
    return elapsed


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds, calls, seconds = (1, 30, 0.2) if args.quick else (5, 300, 1.0)
    header("bench/decisions.py: bypass decisions per second", args, rounds=rounds, calls_per_round=calls)
    verdicts = Verdicts(args)
    engine, through_mcp, bare, durable, shaped, direct = [], [], [], [], [], []
    for _ in range(rounds):
        engine.append(engine_rate(seconds))
        with tempfile.TemporaryDirectory() as tmp:
            c, b, d, sh = anyio.run(mcp_rates, Path(tmp) / "bench.db", calls)
            direct.append(use_case_seconds(Path(tmp) / "bench.db", calls))
        through_mcp.append(c)
        bare.append(b)
        durable.append(d)
        shaped.append(sh)
    print(f"  engine decide() in-process: median {median(engine):,.0f} decisions/s ({spread(engine)})")
    print(
        f"  bypass_check through MCP (logged, audited): median {median(through_mcp):,.0f} decisions/s ({spread(through_mcp)})"
    )
    print(f"  bare MCPServer constant tool (baseline): median {median(bare):,.0f} calls/s ({spread(bare)})")
    print(
        f"  bare MCPServer tool committing one row per call to SQLite (for contrast): median {median(durable):,.0f} "
        f"calls/s ({spread(durable)})"
    )
    print(
        f"  bare MCPServer tool with bypass_check's arguments and answer, returning a stored answer, on a worker "
        f"thread (for contrast): median {median(shaped):,.0f} calls/s ({spread(shaped)}); "
        f"{median(shaped) / median(bare):.3f} of the bare constant tool"
    )
    print(f"  bypass_check's use case called directly: median {median(direct) * 1e6:,.0f} µs a decision")
    ratio = median(through_mcp) / median(bare)
    print(f"  ratio bypass_check/bare: {ratio:.3f} (bare/bypass_check {1 / ratio:.2f}x)")
    print(f"  ratio bypass_check/bare committing a row: {median(through_mcp) / median(durable):.3f}")
    shaped_ratio = median(through_mcp) / median(shaped)
    verdicts.check(
        "bypass_check >= 0.3 of a bare tool's call rate (same arguments and answer)",
        shaped_ratio >= 0.3,
        f"{shaped_ratio:.3f} (against the constant tool {ratio:.3f}, which the same-shape tool itself reaches "
        f"{median(shaped) / median(bare):.3f} of)",
    )
    verdicts.exit()


if __name__ == "__main__":
    main()
