"""What an idempotency key costs: `result_log` of 1,000 points with a fresh key each call, against the same call
without a key, interleaved in the same run; and a repeat with a used key (the first answer returned, nothing written).

Target (issue 11): a keyed call costs at most 1.25x an unkeyed one (the key adds a primary-key read, the
arguments' digest, one row with the answer, in the same transaction), and a repeat costs less than a first call.
In-process MCP client, SQLite file.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread, workbench

TARGET_RATIO = 1.25
BATCH = 1_000


def points(variants: list[str], rng: random.Random) -> list[dict]:
    return [
        {
            "variant": variants[k % len(variants)],
            "metric": "latency_ms",
            "value": rng.gauss(100.0, 10.0),
            "repetition": k,
        }
        for k in range(BATCH)
    ]


async def run(db: Path, rounds: int) -> tuple[list[float], list[float], list[float]]:
    plain, keyed, repeats = [], [], []
    rng = random.Random(11)
    async with workbench(db, "agent:bench-idempotency", variants=4) as bench:
        for r in range(rounds):
            for keyed_first in (r % 2 == 0, r % 2 == 1):  # alternate which goes first
                batch = points(bench.variant_ids, rng)
                arguments = {"experiment_id": bench.experiment_id, "points": batch}
                if keyed_first:
                    arguments["idempotency_key"] = f"round-{r}"
                start = time.perf_counter()
                first = await bench.call("result_log", **arguments)
                (keyed if keyed_first else plain).append(time.perf_counter() - start)
                if keyed_first:
                    start = time.perf_counter()
                    again = await bench.call("result_log", **arguments)
                    repeats.append(time.perf_counter() - start)
                    assert again == first
        import sqlite3

        with sqlite3.connect(db) as conn:
            batches = conn.execute("SELECT count(*) FROM result_batch").fetchone()[0]
        assert batches == 2 * rounds, f"{batches} batches stored for {2 * rounds} first calls"
    return plain, keyed, repeats


def main() -> None:
    args = parse_args(__doc__ or "")
    rounds = 4 if args.quick else 30
    header("idempotency keys: result_log of 1,000 points", args, rounds=rounds, batch=BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        plain, keyed, repeats = anyio.run(run, Path(tmp) / "bench.db", rounds)
    p, k, a = median(plain), median(keyed), median(repeats)
    print(f"  without a key:   {p * 1000:.2f} ms median ({spread([x * 1000 for x in plain])})")
    print(f"  with a new key:  {k * 1000:.2f} ms median ({spread([x * 1000 for x in keyed])})")
    print(f"  repeat of a key: {a * 1000:.2f} ms median ({spread([x * 1000 for x in repeats])})")
    verdicts = Verdicts(args)
    verdicts.check(f"keyed/unkeyed <= {TARGET_RATIO}", k / p <= TARGET_RATIO, f"ratio {k / p:.3f}")
    verdicts.check("repeat < first call", a < k, f"ratio {a / k:.3f}")
    verdicts.exit()


if __name__ == "__main__":
    main()
