"""result_log throughput: 100,000 points in batches of 1,000 through the in-process
MCP client, against raw sqlite3.executemany of the same rows in the same run.

Target (issue 2): at least 100,000 points/s through MCP, and within 5x of raw sqlite3.

The baseline gets the measurement table and its covering index copied from the
cublab database (same DDL), WAL and synchronous=NORMAL like cublab, one
transaction per 1,000 rows, rows prebuilt as tuples. It does no validation, no
audit event, no batch row and no foreign-key checks (sqlite's default), so it is
the floor, not a like-for-like implementation.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread, workbench

TARGET_RATE = 100_000
TARGET_RATIO = 5.0
BATCH = 1_000


def make_points(variants: list[str], total: int, seed: int) -> list[list[dict]]:
    rng = random.Random(seed)
    points = [
        {
            "variant": variants[k % len(variants)],
            "metric": "latency_ms",
            "value": rng.gauss(100.0, 10.0),
            "step": k // len(variants),
            "repetition": k % 7,
        }
        for k in range(total)
    ]
    return [points[i : i + BATCH] for i in range(0, total, BATCH)]


async def run_mcp(db: Path, total: int, seed: int) -> tuple[float, list[tuple]]:
    """Points/s through result_log; also returns the rows as stored, for the baseline."""
    async with workbench(db, "agent:bench-ledger", variants=4) as bench:
        batches = make_points(bench.variant_ids, total, seed)
        start = time.perf_counter()
        for batch in batches:
            logged = await bench.call("result_log", experiment_id=bench.experiment_id, points=batch)
            assert logged["points"] == len(batch)
        elapsed = time.perf_counter() - start
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM measurement").fetchone()[0]
        assert stored == total, f"{stored} points stored, {total} sent"
        rows = conn.execute(
            "SELECT experiment_id, variant_id, batch_id, metric, value, step, repetition FROM measurement ORDER BY id"
        ).fetchall()
    return total / elapsed, rows


def run_raw(source_db: Path, target: Path, rows: list[tuple]) -> float:
    with sqlite3.connect(source_db) as src:
        ddl = [
            sql
            for (sql,) in src.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'measurement' AND sql IS NOT NULL ORDER BY type DESC"
            )
        ]
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for statement in ddl:
        conn.execute(statement)
    sql = "INSERT INTO measurement (experiment_id, variant_id, batch_id, metric, value, step, repetition) VALUES (?, ?, ?, ?, ?, ?, ?)"
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[i : i + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    assert conn.execute("SELECT count(*) FROM measurement").fetchone()[0] == len(rows)
    conn.close()
    return len(rows) / elapsed


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    total, runs = (5_000, 1) if args.quick else (100_000, 5)
    header(
        "bench/ledger.py: result_log throughput",
        args,
        points=f"{total:,} per run in batches of {BATCH:,}",
        runs=runs,
        database="a fresh SQLite file per run (WAL, synchronous=NORMAL)",
    )
    mcp_rates, raw_rates, ratios = [], [], []
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        for run in range(runs):
            cublab_db, raw_db = Path(tmp, f"cublab{run}.db"), Path(tmp, f"raw{run}.db")
            mcp_rate, rows = anyio.run(run_mcp, cublab_db, total, run)
            raw_rate = run_raw(cublab_db, raw_db, rows)
            mcp_rates.append(mcp_rate)
            raw_rates.append(raw_rate)
            ratios.append(raw_rate / mcp_rate)
            print(
                f"  run {run + 1}: MCP {mcp_rate:,.0f} points/s, raw sqlite3 {raw_rate:,.0f} points/s, raw/MCP {raw_rate / mcp_rate:.2f}x"
            )
    mcp, raw, ratio = median(mcp_rates), median(raw_rates), median(ratios)
    print(f"  MCP result_log (in-process client): median {mcp:,.0f} points/s ({spread(mcp_rates)})")
    print(f"  raw sqlite3.executemany (baseline): median {raw:,.0f} points/s ({spread(raw_rates)})")
    print(f"  ratio raw/MCP: median {ratio:.2f}x")
    verdicts = Verdicts(args)
    verdicts.check("MCP throughput >= 100,000 points/s", mcp >= TARGET_RATE, f"{mcp:,.0f} points/s")
    verdicts.check("within 5x of raw sqlite3", ratio <= TARGET_RATIO, f"{ratio:.2f}x")
    verdicts.exit()


if __name__ == "__main__":
    main()
