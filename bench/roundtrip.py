"""One sandbox_get round trip through the in-process MCP client, against a bare
MCPServer tool that returns a constant, in the same process.

Targets: ratio under 2 against the ASYNC bare tool returning a constant (issue 2;
MCPServer runs sync tools in a worker thread, async ones on the event loop), and at
most 1.5x a bare async tool returning the same model, SandboxView (issue 12). The
sync bare tool is reported too. sandbox_get reads on the event loop (SQLite).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread
from cublab.app.outputs import SandboxView  # module level: the tool's annotation is evaluated from here

TARGET_RATIO = 2.0
TARGET_SAME_MODEL = 1.5


def bare_server():
    from mcp.server import MCPServer

    server = MCPServer("bare", log_level="WARNING")

    @server.tool()
    def constant_sync() -> dict[str, str]:
        return {"status": "active"}

    @server.tool()
    async def constant_async() -> dict[str, str]:
        return {"status": "active"}

    # The same output model as sandbox_get, so the client validates the same schema:
    # the difference to sandbox_get is then what cublab itself adds (thread hop, read).
    view: dict = {}

    @server.tool()
    async def constant_view() -> SandboxView:
        return SandboxView.model_validate(view)

    server.constant_view_data = view
    return server


async def timed(client, tool: str, args: dict, calls: int) -> list[float]:
    for _ in range(min(50, calls)):  # warm up
        assert not (await client.call_tool(tool, args)).is_error
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        result = await client.call_tool(tool, args)
        times.append((time.perf_counter() - t) * 1e6)
        assert not result.is_error, result.content[0].text
    return times


async def run(db: Path, calls: int, rounds: int) -> dict[str, list[float]]:
    from mcp import Client

    from cublab.config import Settings
    from cublab.mcp_server import build_server
    from cublab.runtime import Runtime

    runtime = Runtime(Settings(db=str(db), agent="agent:bench-roundtrip", policy_path=None))
    medians: dict[str, list[float]] = {"sandbox_get": [], "bare async": [], "bare sync": [], "bare view": []}
    baseline = bare_server()
    try:
        async with Client(build_server(runtime)) as cublab, Client(baseline) as bare:
            sandbox = (
                await cublab.call_tool("sandbox_spawn", {"name": "bench", "purpose": "round trip", "ttl": "1h"})
            ).structured_content
            baseline.constant_view_data.update(sandbox)
            for _ in range(rounds):  # interleaved, so load on the machine hits all three alike
                medians["sandbox_get"].append(
                    median(await timed(cublab, "sandbox_get", {"sandbox_id": sandbox["id"]}, calls))
                )
                medians["bare async"].append(median(await timed(bare, "constant_async", {}, calls)))
                medians["bare sync"].append(median(await timed(bare, "constant_sync", {}, calls)))
                medians["bare view"].append(median(await timed(bare, "constant_view", {}, calls)))
    finally:
        runtime.close()
    return medians


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    calls, rounds = (50, 1) if args.quick else (500, 4)
    header(
        "bench/roundtrip.py: one tool call in-process",
        args,
        calls=f"{calls} per round x {rounds} rounds per tool ({calls * rounds:,} each)",
    )
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        m = anyio.run(run, Path(tmp, "cublab.db"), calls, rounds)
    get, bare_async, bare_sync = (median(m[k]) for k in ("sandbox_get", "bare async", "bare sync"))
    print(
        f"  sandbox_get (cublab, SQLite read on the event loop): median {get:.0f} us ({spread(m['sandbox_get'])} round medians)"
    )
    print(f"  bare MCPServer async tool returning a constant: median {bare_async:.0f} us ({spread(m['bare async'])})")
    print(f"  bare MCPServer sync tool returning a constant:  median {bare_sync:.0f} us ({spread(m['bare sync'])})")
    bare_view = median(m["bare view"])
    print(
        f"  bare MCPServer async tool returning a constant SandboxView (same output schema): median {bare_view:.0f} us ({spread(m['bare view'])})"
    )
    print(
        f"  ratio vs async bare tool: {get / bare_async:.2f}x; vs sync bare tool: {get / bare_sync:.2f}x; "
        f"vs the same output schema: {get / bare_view:.2f}x"
    )
    print("  (the client validates every structured result against the tool's output schema with jsonschema;")
    print(
        "   the same-schema baseline shows how much of the gap that is, and how much is cublab's thread hop and read)"
    )
    verdicts = Verdicts(args)
    verdicts.check("sandbox_get / bare async tool < 2", get / bare_async < TARGET_RATIO, f"{get / bare_async:.2f}x")
    verdicts.check(
        "sandbox_get / bare tool returning the same SandboxView <= 1.5",
        get / bare_view <= TARGET_SAME_MODEL,
        f"{get / bare_view:.2f}x",
    )
    verdicts.exit()


if __name__ == "__main__":
    main()
