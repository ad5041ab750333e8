"""experiment_compare over 1,000,000 points in 20 variants through the in-process MCP
client, against a bare MCPServer tool returning a constant, interleaved call by call.

Target (issue 12): compare within 4x the bare constant tool (async, the stricter
baseline; the sync one is reported too). Compare reads the running summaries, so its
cost does not depend on the number of points (bench/scaling.py checks that across
sizes). The points are logged through the result_log use case in 10,000-point
batches, so the summaries are the ones logging maintains. The bench also counts the
SQL statements a compare issues (none may read the measurements), times the full
scan a compare without summaries would need (raw SQL with sqlite3, for contrast), and
checks every variant's n, mean, stddev, min and max against math.fsum.
"""

from __future__ import annotations

import math
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread, workbench
from cublab.app.outputs import Comparison  # here: the same-shape tool's annotations are read from this module

TARGET_RATIO = 4.0
VARIANTS = 20
BATCH = 10_000
SCAN_SQL = (
    "SELECT series_id, count(*), avg(value), min(value), max(value), sum(value * value) FROM measurement "
    "WHERE series_id IN (SELECT id FROM result_summary WHERE experiment_id = ? AND metric = ?) GROUP BY series_id"
)


def seed(runtime, experiment_id: str, variant_ids: list[str], total: int, seed: int = 42) -> dict[str, list[float]]:
    """Points through the result_log use case (no MCP), in 10,000-point batches; returns the values per variant."""
    from cublab.app.inputs import LogResults

    rng = random.Random(seed)
    values: dict[str, list[float]] = {v: [] for v in variant_ids}
    done = 0
    while done < total:
        n = min(BATCH, total - done)
        points = []
        for k in range(done, done + n):
            variant = variant_ids[k % len(variant_ids)]
            value = rng.gauss(100.0 + 0.5 * variant_ids.index(variant), 15.0)
            values[variant].append(value)
            points.append({"variant": variant, "metric": "latency_ms", "value": value, "step": k})
        runtime.experiments.log_results(
            LogResults.model_validate({"experiment_id": experiment_id, "points": points}), runtime.agent
        )
        done += n
    return values


def check_numbers(comparison: dict, values: dict[str, list[float]]) -> list[str]:
    problems = []
    for row in comparison["variants"]:
        xs = values[row["variant_id"]]
        mean = math.fsum(xs) / len(xs)
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
        if row["n"] != len(xs):
            problems.append(f"{row['name']}: n {row['n']} != {len(xs)}")
        for what, got, want in (
            ("mean", row["mean"], mean),
            ("stddev", row["stddev"], sd),
            ("min", row["min"], min(xs)),
            ("max", row["max"], max(xs)),
        ):
            if not math.isclose(got, want, rel_tol=1e-9):
                problems.append(f"{row['name']}: {what} {got!r} != {want!r}")
    return problems


def bare_server(answer: dict | None = None):
    """Constant tools, async and sync; with `answer`, also a tool taking an experiment id and returning that stored
    Comparison: the SDK's cost for a call of compare's shape, with nothing of cublab's in it (for contrast)."""
    from mcp.server import MCPServer

    server = MCPServer("bare", log_level="WARNING")
    if answer is not None:
        stored = Comparison.model_validate(answer)

        @server.tool()
        async def same_shape(experiment_id: str) -> Comparison:
            return stored

    @server.tool()
    async def constant_async() -> dict[str, str]:
        return {"verdict": "winner"}

    @server.tool()
    def constant_sync() -> dict[str, str]:
        return {"verdict": "winner"}

    return server


async def timed_call(client, tool: str, args: dict) -> float:
    t = time.perf_counter()
    result = await client.call_tool(tool, args)
    elapsed = (time.perf_counter() - t) * 1000
    assert not result.is_error, result.content[0].text
    return elapsed


async def compare_against_bare(bench, repeats: int) -> dict[str, list[float]]:
    """Compare and the bare tools, interleaved call by call after a warm-up; milliseconds."""
    from mcp import Client

    times: dict[str, list[float]] = {"compare": [], "async": [], "sync": [], "shape": []}
    args = {"experiment_id": bench.experiment_id}
    answer = (await bench.client.call_tool("experiment_compare", args)).structured_content
    async with Client(bare_server(answer)) as bare:
        for _ in range(5):
            await timed_call(bench.client, "experiment_compare", args)
            await timed_call(bare, "constant_async", {})
            await timed_call(bare, "constant_sync", {})
            await timed_call(bare, "same_shape", args)
        for _ in range(repeats):
            times["compare"].append(await timed_call(bench.client, "experiment_compare", args))
            times["async"].append(await timed_call(bare, "constant_async", {}))
            times["sync"].append(await timed_call(bare, "constant_sync", {}))
            times["shape"].append(await timed_call(bare, "same_shape", args))
    return times


def count_statements(engine, run) -> list[str]:
    from sqlalchemy import event

    statements: list[str] = []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return statements


async def run(db: Path, total: int, repeats: int) -> dict:
    async with workbench(db, "agent:bench-compare", variants=VARIANTS) as bench:
        start = time.perf_counter()
        values = seed(bench.runtime, bench.experiment_id, bench.variant_ids, total)
        seeded = time.perf_counter() - start
        comparison = await bench.call("experiment_compare", experiment_id=bench.experiment_id)
        from cublab.app.inputs import CompareExperiment

        statements = count_statements(
            bench.runtime.ctx.db.engine,
            lambda: bench.runtime.experiments.compare(CompareExperiment(experiment_id=bench.experiment_id)),
        )
        times = await compare_against_bare(bench, repeats)
    scan = []
    with sqlite3.connect(db) as conn:
        for _ in range(min(repeats, 5)):
            t = time.perf_counter()
            rows = conn.execute(SCAN_SQL, (bench.experiment_id, "latency_ms")).fetchall()
            scan.append((time.perf_counter() - t) * 1000)
        assert len(rows) == VARIANTS
    return {
        "seeded": seeded,
        "times": times,
        "scan": scan,
        "statements": statements,
        "problems": check_numbers(comparison, values),
        "comparison": comparison,
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    total, repeats = (20_000, 5) if args.quick else (1_000_000, 31)
    header(
        "bench/compare.py: experiment_compare",
        args,
        points=f"{total:,} in {VARIANTS} variants, one metric, logged in batches of {BATCH:,}",
        repeats=f"{repeats}, interleaved with the bare tools",
    )
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        r = anyio.run(run, Path(tmp, "cublab.db"), total, repeats)
    t = r["times"]
    cmp_ms, async_ms, sync_ms = median(t["compare"]), median(t["async"]), median(t["sync"])
    c = r["comparison"]
    on_points = [s for s in r["statements"] if "measurement" in s]
    print(f"  logged {total:,} points through the result_log use case in {r['seeded']:.1f} s")
    print(f"  SQL statements per compare: {len(r['statements'])} ({len(on_points)} read measurements)")
    print(
        f"  verdict: {c['verdict']}, leader {c['variants'][0]['name']} mean {c['variants'][0]['mean']:.4f}, p = {c['p_value']}"
    )
    print(f"  experiment_compare (in-process MCP): median {cmp_ms:.2f} ms ({spread(t['compare'])})")
    print(f"  bare async constant tool: median {async_ms:.2f} ms ({spread(t['async'])})")
    print(f"  bare sync constant tool: median {sync_ms:.2f} ms ({spread(t['sync'])})")
    shape_ms = median(t["shape"])
    print(
        f"  bare async tool returning the same stored Comparison (for contrast): median {shape_ms:.2f} ms "
        f"({spread(t['shape'])}); {shape_ms / async_ms:.2f}x the constant tool, most of it the client validating "
        f"{len(c['variants'])} variants against the output schema"
    )
    print(f"  ratio compare/bare async: {cmp_ms / async_ms:.2f}x; compare/bare sync: {cmp_ms / sync_ms:.2f}x")
    print(f"  ratio compare/bare of the same shape: {cmp_ms / shape_ms:.2f}x")
    print(f"  for contrast, a full scan of the points (raw SQL, sqlite3): median {median(r['scan']):.1f} ms")
    print(f"  numbers checked against math.fsum: {'all right' if not r['problems'] else '; '.join(r['problems'])}")
    verdicts = Verdicts(args)
    verdicts.check(
        "compare within 4x a bare constant tool (async)", cmp_ms / async_ms <= TARGET_RATIO, f"{cmp_ms / async_ms:.2f}x"
    )
    verdicts.check("compare reads no measurement", not on_points, f"{len(on_points)} statement(s)")
    verdicts.check("comparison numerically right", not r["problems"], f"{len(r['problems'])} problem(s)")
    verdicts.exit()


if __name__ == "__main__":
    main()
