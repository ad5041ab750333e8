"""experiment_compare over 1,000,000 points in 20 variants, through the in-process
MCP client, against the raw SQL aggregate run with sqlite3 in the same run.

Target (issue 2): under 150 ms. The data is seeded with raw inserts through the
store's engine (not through MCP). The bench also checks that the aggregate reads
the covering index (EXPLAIN QUERY PLAN), counts the SQL statements a compare
issues (the per-variant precision re-query must not fire on normal data), and
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

TARGET_MS = 150.0
VARIANTS = 20
RAW_SQL = (
    "SELECT variant_id, count(*), avg(value), min(value), max(value), sum(value * value) FROM measurement "
    "WHERE experiment_id = ? AND metric = ? GROUP BY variant_id"
)


def seed(runtime, experiment_id: str, variant_ids: list[str], total: int) -> dict[str, list[float]]:
    """Raw inserts through the store's engine: one batch row, then the points in chunks."""
    from sqlalchemy import insert

    from cublab.store.tables import ResultBatch

    rng = random.Random(42)
    values: dict[str, list[float]] = {v: [] for v in variant_ids}
    engine = runtime.ctx.db.engine
    with engine.begin() as conn:
        batch_id = conn.execute(
            insert(ResultBatch.__table__).values(
                experiment_id=experiment_id,
                point_count=total,
                digest="sha256:bench",
                created_by="agent:bench-compare",
                created_at=runtime.ctx.clock(),
            )
        ).inserted_primary_key[0]
        sql = "INSERT INTO measurement (experiment_id, variant_id, batch_id, metric, value, step, repetition) VALUES (?, ?, ?, ?, ?, ?, ?)"
        per_variant = total // len(variant_ids)
        for j, v in enumerate(variant_ids):
            values[v] = sorted(
                rng.gauss(100.0 + 0.5 * j, 15.0) for _ in range(per_variant)
            )  # index order: appends, not page splits
            rows = [(experiment_id, v, batch_id, "latency_ms", value, step, 0) for step, value in enumerate(values[v])]
            conn.exec_driver_sql(sql, rows)
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


async def run(db: Path, total: int, repeats: int) -> dict:
    from sqlalchemy import event

    async with workbench(db, "agent:bench-compare", variants=VARIANTS) as bench:
        runtime, experiment = bench.runtime, {"id": bench.experiment_id}
        start = time.perf_counter()
        values = seed(runtime, bench.experiment_id, bench.variant_ids, total)
        seeded = time.perf_counter() - start

        statements: list[str] = []
        listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
        event.listen(runtime.ctx.db.engine, "before_cursor_execute", listener)
        comparison = await bench.call("experiment_compare", experiment_id=bench.experiment_id)
        event.remove(runtime.ctx.db.engine, "before_cursor_execute", listener)

        mcp_times = []
        for _ in range(repeats):
            t = time.perf_counter()
            await bench.call("experiment_compare", experiment_id=bench.experiment_id)
            mcp_times.append((time.perf_counter() - t) * 1000)

    raw_times = []
    with sqlite3.connect(db) as conn:
        plan = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + RAW_SQL, (experiment["id"], "latency_ms"))]
        for _ in range(repeats):
            t = time.perf_counter()
            rows = conn.execute(RAW_SQL, (experiment["id"], "latency_ms")).fetchall()
            raw_times.append((time.perf_counter() - t) * 1000)
        assert len(rows) == VARIANTS
    return {
        "seeded": seeded,
        "mcp": mcp_times,
        "raw": raw_times,
        "plan": plan,
        "statements": statements,
        "problems": check_numbers(comparison, values),
        "comparison": comparison,
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    total, repeats = (20_000, 3) if args.quick else (1_000_000, 15)
    header(
        "bench/compare.py: experiment_compare",
        args,
        points=f"{total:,} in {VARIANTS} variants, one metric",
        repeats=repeats,
    )
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        r = anyio.run(run, Path(tmp, "cublab.db"), total, repeats)
    mcp, raw = median(r["mcp"]), median(r["raw"])
    c = r["comparison"]
    aggregates = [s for s in r["statements"] if "measurement" in s]
    print(f"  seeded {total:,} points with raw inserts through the store's engine in {r['seeded']:.1f} s")
    print(f"  query plan of the raw aggregate: {'; '.join(r['plan'])}")
    print(f"  SQL statements per experiment_compare: {len(r['statements'])} ({len(aggregates)} on measurement)")
    print(
        f"  verdict: {c['verdict']}, leader {c['variants'][0]['name']} mean {c['variants'][0]['mean']:.4f}, p = {c['p_value']}"
    )
    print(f"  experiment_compare (in-process MCP): median {mcp:.1f} ms ({spread(r['mcp'])})")
    print(f"  raw SQL aggregate (sqlite3, baseline): median {raw:.1f} ms ({spread(r['raw'])})")
    print(f"  ratio MCP/raw: {mcp / raw:.2f}x")
    print(f"  numbers checked against math.fsum: {'all right' if not r['problems'] else '; '.join(r['problems'])}")
    verdicts = Verdicts(args)
    verdicts.check("experiment_compare under 150 ms", mcp < TARGET_MS, f"{mcp:.1f} ms")
    verdicts.check(
        "aggregate reads the covering index",
        any("COVERING INDEX ix_measurement_compare" in p for p in r["plan"]),
        "; ".join(r["plan"]),
    )
    verdicts.check(
        "one aggregate query on measurement (no precision re-query)", len(aggregates) == 1, f"{len(aggregates)}"
    )
    verdicts.check("comparison numerically right", not r["problems"], f"{len(r['problems'])} problem(s)")
    verdicts.exit()


if __name__ == "__main__":
    main()
