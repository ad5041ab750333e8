"""result_log throughput in 1,000-point batches against two baselines measured in the
same run, interleaved batch by batch: raw sqlite3 and a bare MCPServer tool taking the
same points (TypedDict) on the same transport (in-process, and over stdio).

Targets (issue 12): result_log >= 0.7 of the bare tool's rate in-process and over
stdio, and >= 0.45 of raw sqlite3 in-process.

Every leg writes the same rows into the same table: cublab's `measurement` DDL,
copied from a migrated cublab database. The raw leg is sqlite3.executemany of
prebuilt tuples, one transaction per batch (WAL, synchronous=NORMAL, like cublab).
The bare tool is an MCPServer tool whose `points` parameter is a list of TypedDicts
(what the SDK validates for it is all the validation it gets); it maps each point's
(variant, metric) to an integer and inserts the batch with sqlite3.executemany in one
transaction. Neither writes a batch row, a summary, a digest or an audit event: they
are the ceiling, not like-for-like implementations.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread, workbench

BATCH = 1_000
TARGET_BARE = 0.7
TARGET_RAW = 0.45
AGENT = "agent:bench-ledger"

BARE = '''\
"""A bare MCPServer with one tool taking result_log's points as TypedDicts and inserting them with sqlite3."""
import sqlite3
import sys
from typing import Annotated, NotRequired

from pydantic import Field
from typing_extensions import TypedDict
from mcp.server import MCPServer


class Point(TypedDict):
    variant: Annotated[str, Field(min_length=1, max_length=64)]
    metric: Annotated[str, Field(min_length=1, max_length=200)]
    value: Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
    step: NotRequired[Annotated[int | None, Field(ge=0)]]
    repetition: NotRequired[Annotated[int | None, Field(ge=0)]]


class Logged(TypedDict):
    points: int


def open_db(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Bare:
    def __init__(self, path: str) -> None:
        self.conn, self.series, self.batches = open_db(path), {}, 0

    def log(self, points: list[Point]) -> Logged:
        series = self.series
        keys = [(p["variant"], p["metric"]) for p in points]
        for key in dict.fromkeys(keys):
            series.setdefault(key, len(series) + 1)
        self.batches += 1
        rows = zip(
            [self.batches] * len(points),
            range(len(points)),
            [series[k] for k in keys],
            [p["value"] for p in points],
            [p.get("step") for p in points],
            [p.get("repetition") for p in points],
        )
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(
            "INSERT INTO measurement (batch_id, seq, series_id, value, step, repetition) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        self.conn.execute("COMMIT")
        return {"points": len(points)}


def build(path: str) -> MCPServer:
    bare, server = Bare(path), MCPServer("bare")

    @server.tool()
    def result_log(experiment_id: str, points: list[Point]) -> Logged:
        return bare.log(points)

    return server


if __name__ == "__main__":
    build(sys.argv[1]).run("stdio")
'''


def make_batches(variants: list[str], total: int, seed: int) -> list[list[dict]]:
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


def measurement_ddl(cublab_db: Path) -> list[str]:
    with sqlite3.connect(cublab_db) as src:
        return [
            sql
            for (sql,) in src.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'measurement' AND sql IS NOT NULL ORDER BY type DESC"
            )
        ]


def fresh_table(path: Path, ddl: list[str]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in ddl:
        conn.execute(statement)
    conn.close()


class Raw:
    """The floor: prebuilt tuples, one executemany and one transaction per batch."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.series: dict[tuple[str, str], int] = {}
        self.batches = 0

    def rows(self, batch: list[dict]) -> list[tuple]:
        self.batches += 1
        out = []
        for seq, p in enumerate(batch):
            key = (p["variant"], p["metric"])
            out.append(
                (
                    self.batches,
                    seq,
                    self.series.setdefault(key, len(self.series) + 1),
                    p["value"],
                    p["step"],
                    p["repetition"],
                )
            )
        return out

    def insert(self, rows: list[tuple]) -> float:
        start = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(
            "INSERT INTO measurement (batch_id, seq, series_id, value, step, repetition) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.conn.execute("COMMIT")
        return time.perf_counter() - start


def bare_module(tmp: Path):
    source = tmp / "bare_ledger_server.py"
    source.write_text(BARE)
    sys.path.insert(0, str(tmp))
    import bare_ledger_server

    return source, bare_ledger_server


async def timed(client, arguments: dict) -> float:
    start = time.perf_counter()
    result = await client.call_tool("result_log", arguments)
    elapsed = time.perf_counter() - start
    assert not result.is_error, result.content[0].text
    assert result.structured_content["points"] == len(arguments["points"])
    return elapsed


async def in_process(tmp: Path, total: int, seed: int, bare_mod) -> dict[str, float]:
    """Points/s of cublab, the bare tool and raw sqlite3, in-process, interleaved batch by batch."""
    from mcp import Client

    cublab_db = tmp / f"inproc-cublab-{seed}.db"
    async with workbench(cublab_db, AGENT, variants=4) as bench:
        ddl = measurement_ddl(cublab_db)
        fresh_table(tmp / f"inproc-bare-{seed}.db", ddl)
        fresh_table(tmp / f"inproc-raw-{seed}.db", ddl)
        raw = Raw(tmp / f"inproc-raw-{seed}.db")
        batches = make_batches(bench.variant_ids, total, seed)
        times = {"cublab": 0.0, "bare": 0.0, "raw": 0.0}
        async with Client(bare_mod.build(str(tmp / f"inproc-bare-{seed}.db"))) as bare:
            for batch in batches:
                times["cublab"] += await timed(bench.client, {"experiment_id": bench.experiment_id, "points": batch})
                times["bare"] += await timed(bare, {"experiment_id": "x", "points": batch})
                times["raw"] += raw.insert(raw.rows(batch))
    return {leg: total / t for leg, t in times.items()}


def cublab_command() -> list[str]:
    script = shutil.which("cublab", path=str(Path(sys.executable).parent)) or shutil.which("cublab")
    return [script] if script else [sys.executable, "-m", "cublab"]


async def over_stdio(tmp: Path, total: int, seed: int, bare_source: Path) -> dict[str, float]:
    """Points/s of cublab serve and the bare script over stdio, interleaved batch by batch."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {"CUBLAB_LOG_LEVEL": "WARNING", **{k: v for k, v in os.environ.items() if k.startswith("CUBLAB_AUDIT_")}}
    cublab_db, bare_db = tmp / f"stdio-cublab-{seed}.db", tmp / f"stdio-bare-{seed}.db"
    cublab = StdioServerParameters(
        command=cublab_command()[0],
        args=[*cublab_command()[1:], "serve", "--db", str(cublab_db), "--agent", AGENT],
        env=env,
    )
    async with Client(cublab) as client:

        async def call(tool: str, **arguments):
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content[0].text
            return result.structured_content

        sandbox = await call("sandbox_spawn", name="bench", purpose="benchmark", ttl="1h")
        exp = await call(
            "experiment_create",
            sandbox_id=sandbox["id"],
            name="bench",
            hypothesis="h",
            objective_metric="latency_ms",
            direction="minimize",
        )
        variants = [
            (await call("variant_log", experiment_id=exp["id"], name=f"v{k}", configuration=json.dumps({"k": k})))[
                "variant"
            ]["id"]
            for k in range(4)
        ]
        fresh_table(bare_db, measurement_ddl(cublab_db))
        bare = StdioServerParameters(command=sys.executable, args=[str(bare_source), str(bare_db)], env=env)
        times = {"cublab": 0.0, "bare": 0.0}
        async with Client(bare) as bare_client:
            for batch in make_batches(variants, total, seed):
                times["cublab"] += await timed(client, {"experiment_id": exp["id"], "points": batch})
                times["bare"] += await timed(bare_client, {"experiment_id": "x", "points": batch})
    return {leg: total / t for leg, t in times.items()}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    total, runs, stdio_total = (3_000, 1, 2_000) if args.quick else (100_000, 3, 50_000)
    header(
        "bench/ledger.py: result_log throughput",
        args,
        points=f"{total:,} in-process and {stdio_total:,} over stdio per run, batches of {BATCH:,}, interleaved",
        runs=runs,
        database="a fresh SQLite file per leg and run (WAL, synchronous=NORMAL)",
        mlflow="measured by bench/mlflow.py",
    )
    inproc, stdio = [], []
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp_name:
        tmp = Path(tmp_name)
        bare_source, bare_mod = bare_module(tmp)
        for run in range(runs):
            r = anyio.run(in_process, tmp, total, run, bare_mod)
            s = anyio.run(over_stdio, tmp, stdio_total, run, bare_source)
            inproc.append(r)
            stdio.append(s)
            print(
                f"  run {run + 1}: in-process cublab {r['cublab']:,.0f}, bare tool {r['bare']:,.0f}, raw sqlite3 "
                f"{r['raw']:,.0f} points/s; stdio cublab {s['cublab']:,.0f}, bare tool {s['bare']:,.0f} points/s"
            )
    ratio_bare = [r["cublab"] / r["bare"] for r in inproc]
    ratio_raw = [r["cublab"] / r["raw"] for r in inproc]
    ratio_stdio = [s["cublab"] / s["bare"] for s in stdio]
    print(f"  in-process result_log: median {median([r['cublab'] for r in inproc]):,.0f} points/s")
    print(f"  in-process bare TypedDict tool: median {median([r['bare'] for r in inproc]):,.0f} points/s")
    print(f"  raw sqlite3.executemany: median {median([r['raw'] for r in inproc]):,.0f} points/s")
    print(f"  stdio result_log: median {median([s['cublab'] for s in stdio]):,.0f} points/s")
    print(f"  stdio bare TypedDict tool: median {median([s['bare'] for s in stdio]):,.0f} points/s")
    print(f"  ratio cublab/bare in-process: median {median(ratio_bare):.2f} ({spread(ratio_bare)})")
    print(f"  ratio cublab/bare over stdio: median {median(ratio_stdio):.2f} ({spread(ratio_stdio)})")
    print(f"  ratio cublab/raw sqlite3 in-process: median {median(ratio_raw):.2f} ({spread(ratio_raw)})")
    bare_raw = [r["bare"] / r["raw"] for r in inproc]
    print(
        f"  for contrast, the bare tool/raw sqlite3 in-process: median {median(bare_raw):.2f} ({spread(bare_raw)}): "
        "a tool that only validates the points and inserts them, through the same SDK"
    )
    verdicts = Verdicts(args)
    verdicts.check(">= 0.7 of the bare tool in-process", median(ratio_bare) >= TARGET_BARE, f"{median(ratio_bare):.2f}")
    verdicts.check(
        ">= 0.7 of the bare tool over stdio", median(ratio_stdio) >= TARGET_BARE, f"{median(ratio_stdio):.2f}"
    )
    verdicts.check(">= 0.45 of raw sqlite3 in-process", median(ratio_raw) >= TARGET_RAW, f"{median(ratio_raw):.2f}")
    verdicts.exit()


if __name__ == "__main__":
    main()
