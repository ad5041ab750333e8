"""One agent's failing calls must not slow the others.

Several concurrent in-process clients read a sandbox (`sandbox_get`) in a loop while one more client keeps calling
a tool 20 frames deep. In the faulted runs that tool crashes (an unexpected exception: the SDK logs it with its
traceback); in the baseline runs the same calls succeed, so the baseline carries the same load and the
difference is what a failure costs the others. The two alternate several times; the median and the 95th
percentile are reported, and a run without the extra client for reference.

Target (Faults and retries): the ratio of the healthy calls' median latency with and without the failing calls
is at most 1.10. For contrast, the same faulted run is repeated with the SDK's own logging (a RichHandler with
rich tracebacks, what `MCPServer(log_level=...)` installs), which renders each traceback on the event loop.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, parse_args

TARGET_RATIO = 1.10


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(bench_dir: Path, args) -> None:
    from mcp import Client

    from cublab import logs
    from cublab.config import Settings
    from cublab.mcp_server import build_server
    from cublab.runtime import Runtime

    callers, calls, rounds = (2, 20, 1) if args.quick else (4, 50, 16)
    runtime = Runtime(Settings(db=str(bench_dir / "cublab.db"), agent="agent:bench-faults", policy_path=None))
    server = build_server(runtime)

    @server.tool(name="crash")
    def crash(fail: bool) -> dict[str, str]:
        def deeper(n: int) -> None:  # a traceback of realistic depth
            if n == 0:
                if fail:
                    raise RuntimeError("an unexpected failure in one agent's call")
                return
            deeper(n - 1)

        deeper(20)
        return {"ok": "yes"}

    log_file = (bench_dir / "server.log").open("w")
    assert logs._State.stream is not None
    logs._State.stream.setStream(log_file)  # real writes, but not to the terminal
    root = logging.getLogger()
    failures = 0

    async with Client(server) as client:
        sandbox = (
            await client.call_tool("sandbox_spawn", {"name": "b", "purpose": "bench", "ttl": "1h"})
        ).structured_content
        for _ in range(30):  # warm up
            await client.call_tool("sandbox_get", {"sandbox_id": sandbox["id"]})
            await client.call_tool("crash", {"fail": True})

        async def phase(faulted: bool | None) -> list[float]:
            """faulted None: no extra client; False: its calls succeed; True: they crash."""
            nonlocal failures
            latencies: list[float] = []
            done = anyio.Event()

            async def healthy() -> None:
                for _ in range(calls):
                    start = time.perf_counter()
                    result = await client.call_tool("sandbox_get", {"sandbox_id": sandbox["id"]})
                    latencies.append(time.perf_counter() - start)
                    assert not result.is_error

            async def failing() -> None:
                nonlocal failures
                while not done.is_set():
                    result = await client.call_tool("crash", {"fail": faulted})
                    assert result.is_error is bool(faulted)
                    failures += bool(faulted)
                    await anyio.sleep(0.01)

            async with anyio.create_task_group() as tg:
                if faulted is not None:
                    tg.start_soon(failing)
                async with anyio.create_task_group() as inner:
                    for _ in range(callers):
                        inner.start_soon(healthy)
                done.set()
            return latencies

        alone = await phase(None)
        clean: list[float] = []
        faulted: list[float] = []
        ratios: list[float] = []
        for _ in range(rounds):
            one_clean, one_faulted = await phase(False), await phase(True)
            ratios.append(statistics.median(one_faulted) / statistics.median(one_clean))
            clean += one_clean
            faulted += one_faulted
        cublab_failures = failures

        # The SDK's own logging, for contrast: rich tracebacks rendered on the event loop.
        from rich.console import Console
        from rich.logging import RichHandler

        handler = logs._State.handler
        root.removeHandler(handler)
        rich = RichHandler(console=Console(file=log_file, width=80), rich_tracebacks=True)
        root.addHandler(rich)
        failures = 0
        rich_faulted = await phase(True)
        rich_failures = failures
        root.removeHandler(rich)
        root.addHandler(handler)
    runtime.close()

    def ms(v: float) -> str:
        return f"{v * 1000:.2f} ms"

    med_clean, med_faulted, med_rich = (statistics.median(x) for x in (clean, faulted, rich_faulted))
    print(f"  healthy calls alone (no extra client): median {ms(statistics.median(alone))}, n={len(alone)}")
    print(
        f"  healthy calls beside succeeding calls (baseline): median {ms(med_clean)}, p95 {ms(percentile(clean, 0.95))}, n={len(clean)}"
    )
    print(
        f"  healthy calls with failures (cublab logging): median {ms(med_faulted)}, p95 {ms(percentile(faulted, 0.95))}, "
        f"n={len(faulted)}, failing calls {cublab_failures}"
    )
    print(
        f"  healthy calls with failures (SDK rich logging): median {ms(med_rich)}, p95 {ms(percentile(rich_faulted, 0.95))}, "
        f"n={len(rich_faulted)}, failing calls {rich_failures}"
    )
    # Short rounds, alternating, pooled: drift in the machine's load falls on both sides alike.
    ratio = med_faulted / med_clean
    print(f"  per-round ratios (faulted/baseline, cublab; noisy): {', '.join(f'{r:.2f}' for r in ratios)}")
    print(
        f"  ratio faulted/baseline (cublab, pooled medians): {ratio:.3f}; p95 ratio {percentile(faulted, 0.95) / percentile(clean, 0.95):.3f}"
    )
    print(
        f"  ratio faulted/baseline (SDK rich logging): median {med_rich / med_clean:.3f}, "
        f"p95 {percentile(rich_faulted, 0.95) / percentile(clean, 0.95):.1f} (each traceback stalls the loop)"
    )
    verdicts = Verdicts(args)
    verdicts.check(
        "failing calls raise healthy latency by at most 10%",
        ratio <= TARGET_RATIO,
        f"ratio {ratio:.3f} <= {TARGET_RATIO}",
    )
    verdicts.exit()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    header("fault latency: healthy calls beside a crashing one", args, transport="in-process MCP client", db="SQLite")
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(run, Path(tmp), args)


if __name__ == "__main__":
    main()
