"""How logging and compare scale with the number of stored points: 10k, 100k and 1M
points (10M with --ten-million: slow), one growing SQLite database, through the
in-process MCP client.

At each size: the logging rate over a window of 1,000-point result_log batches,
interleaved batch by batch with the same batches logged into a fresh reference
database holding 10k points (so the rate "at 10k" is measured beside the rate at
each size, under the same load); compare's median time interleaved with a bare async
constant tool; and the bytes on disk per stored point after VACUUM (a VACUUM INTO
copy, whole file: summaries, batches and audit events included). Between sizes the
database grows through the same tool in 10,000-point batches.

Targets (issue 12): compare at the largest size within 1.5x compare at 100k and within
4x the bare tool; the logging rate at the largest size within 10% of the rate at
10k (the issue states it for 10M); at most 60 bytes per point.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread, workbench
from compare import bare_server, timed_call

VARIANTS = 20
WINDOW_BATCHES = 20  # 1,000-point batches whose rate is measured at each size
GROW_BATCH = 10_000
TARGET_COMPARE_GROWTH = 1.5
TARGET_COMPARE_BARE = 4.0
TARGET_RATE_DROP = 0.10
TARGET_BYTES = 60.0
REFERENCE_POINTS = 10_000  # the reference database's size: the rate at each size is compared with the rate at 10k


class Points:
    """An endless, reproducible stream of points over the variants."""

    def __init__(self, variants: list[str], seed: int = 7) -> None:
        self.variants, self.rng, self.k = variants, random.Random(seed), 0

    def take(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            j = self.k % len(self.variants)
            out.append(
                {
                    "variant": self.variants[j],
                    "metric": "latency_ms",
                    "value": self.rng.gauss(100.0 + 0.1 * j, 10.0),
                    "step": self.k // len(self.variants),
                    "repetition": self.k % 5,
                }
            )
            self.k += 1
        return out


def bytes_per_point(db: Path, points: int, tmp: Path) -> float:
    import sqlite3

    copy = tmp / "vacuumed.db"
    copy.unlink(missing_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute("VACUUM INTO ?", (str(copy),))
    size = copy.stat().st_size
    copy.unlink()
    return size / points


async def timed_batches(bench, reference, batches: list[list[dict]]) -> tuple[float, float]:
    """Each batch logged into `bench` and the same points into `reference` (by its own variant ids), alternating
    which goes first; the points per second of each over the whole window (total time, so a WAL checkpoint costs
    whichever leg it falls in)."""
    same = dict(zip(bench.variant_ids, reference.variant_ids, strict=True))
    spent = {"bench": 0.0, "reference": 0.0}
    for k, batch in enumerate(batches):
        copy = [{**point, "variant": same[point["variant"]]} for point in batch]
        legs = [("bench", bench, batch), ("reference", reference, copy)]
        for name, target, points in legs if k % 2 == 0 else legs[::-1]:
            start = time.perf_counter()
            await target.call("result_log", experiment_id=target.experiment_id, points=points)
            spent[name] += time.perf_counter() - start
    points = sum(len(b) for b in batches)
    return points / spent["bench"], points / spent["reference"]


async def grow(bench, stream: Points, points: int) -> None:
    while points > 0:
        n = min(GROW_BATCH, points)
        await bench.call("result_log", experiment_id=bench.experiment_id, points=stream.take(n))
        points -= n


async def run(tmp: Path, sizes: list[int], full_window: int, repeats: int) -> list[dict]:
    from mcp import Client

    from cublab.domain.identity import human_identity

    db = tmp / "scaling.db"
    rows = []
    async with workbench(db, "agent:bench-scaling", variants=VARIANTS) as bench, Client(bare_server()) as bare:
        # The policy allows 1,000,000 points an hour per agent; a human raises it for the bench, as they would.
        bench.runtime.quotas.set(
            bench.runtime.agent, "points_per_hour", 2 * sizes[-1], human_identity("human:bench"), "scaling benchmark"
        )
        stream, stored = Points(bench.variant_ids), 0
        for n, size in enumerate(sizes):
            window = min(full_window, size)  # 10k points: a window of 10 batches
            await grow(bench, stream, size - window - stored)
            stored = max(stored, size - window)
            batches = [stream.take(1_000) for _ in range(window // 1_000)]
            async with workbench(tmp / f"reference-{n}.db", "agent:bench-scaling", variants=VARIANTS) as reference:
                await grow(reference, Points(reference.variant_ids, seed=n), REFERENCE_POINTS)
                rate, reference_rate = await timed_batches(bench, reference, batches)
            stored += window
            compare_ms, bare_ms, ratios = [], [], []
            for k in range(repeats + 3):
                c = await timed_call(bench.client, "experiment_compare", {"experiment_id": bench.experiment_id})
                b = await timed_call(bare, "constant_async", {})
                if k >= 3:  # warm-up
                    compare_ms.append(c)
                    bare_ms.append(b)
                    ratios.append(c / b)
            row = {
                "size": stored,
                "rate": rate,
                "reference_rate": reference_rate,
                "rate_ratio": rate / reference_rate,
                "compare": median(compare_ms),
                "compare_spread": spread(compare_ms),
                "bare": median(bare_ms),
                "ratio": median(ratios),  # of each compare to the bare call beside it: steadier under load
                "bytes": bytes_per_point(db, stored, tmp),
            }
            rows.append(row)
            print(
                f"  {stored:>10,} points: logging {rate:,.0f} points/s against {reference_rate:,.0f} into the 10k "
                f"reference beside it ({row['rate_ratio']:.3f}); compare median {row['compare']:.2f} ms "
                f"({row['compare_spread']}), bare async tool {row['bare']:.2f} ms, paired ratio {row['ratio']:.2f}; "
                f"{row['bytes']:.1f} bytes/point after VACUUM",
                flush=True,
            )
    return rows


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], ten_million="also 10,000,000 points (slow: tens of minutes)")
    ten = args.ten_million
    if args.quick:
        sizes, window, repeats = [5_000, 20_000], 2_000, 5
    else:
        sizes = [10_000, 100_000, 1_000_000, *([10_000_000] if ten else [])]
        window, repeats = WINDOW_BATCHES * 1_000, 21
    header(
        "bench/scaling.py: logging rate and compare time by stored points",
        args,
        sizes=", ".join(f"{s:,}" for s in sizes) + ("" if ten or args.quick else " (10M: --ten-million)"),
        window=f"rate over {window // 1_000} batches of 1,000 points at each size",
        variants=VARIANTS,
    )
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        rows = anyio.run(run, Path(tmp), sizes, window, repeats)
    first, largest = rows[0], rows[-1]
    middle = rows[1] if len(rows) > 2 else rows[0]  # 100k in a full run
    growth = largest["compare"] / middle["compare"]
    vs_bare = largest["ratio"]
    drop = 1.0 - largest["rate_ratio"]  # against the 10k reference measured beside it
    print(f"  compare at {largest['size']:,} / compare at {middle['size']:,}: {growth:.2f}x")
    print(f"  compare at {largest['size']:,} / bare async tool (median of paired ratios): {vs_bare:.2f}x")
    print(f"  logging rate at {largest['size']:,} vs at 10k, interleaved in one window: {-drop:+.1%}")
    print(
        f"  logging rate at {largest['size']:,} vs at {first['size']:,} measured earlier in the run: "
        f"{largest['rate'] / first['rate'] - 1:+.1%} (for contrast: load changes between windows)"
    )
    verdicts = Verdicts(args)
    verdicts.check(
        f"compare at {largest['size']:,} within 1.5x compare at {middle['size']:,}",
        growth <= TARGET_COMPARE_GROWTH,
        f"{growth:.2f}x",
    )
    verdicts.check(
        f"compare at {largest['size']:,} within 4x a bare constant tool",
        vs_bare <= TARGET_COMPARE_BARE,
        f"{vs_bare:.2f}x",
    )
    verdicts.check(
        f"logging rate at {largest['size']:,} within 10% of the rate at 10k",
        drop <= TARGET_RATE_DROP,
        f"{-drop:+.1%}",
    )
    verdicts.check(
        "at most 60 bytes per stored point after VACUUM",
        largest["bytes"] <= TARGET_BYTES,
        f"{largest['bytes']:.1f} bytes",
    )
    verdicts.exit()


if __name__ == "__main__":
    main()
