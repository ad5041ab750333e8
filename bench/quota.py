"""The points_per_hour quota check (app/quotas.py `enforce`), timed directly as a principal's hour fills with
batches: the cost with many batches in the window against the cost with few, measured in the same run.

Target: with 100 times the batches in the hour (1,000 against 10), the check costs at most 1.5 times as
much (it reads two running totals, not the hour's batches). Each timing is the median of 300 checks inside
a write transaction that has already begun, as result_log's has.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from _common import Verdicts, header, parse_args

TARGET = 1.5
AGENT = "agent:bench-quota1"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    few, many, checks = (5, 50, 30) if args.quick else (10, 1000, 300)
    header("bench/quota.py: the points_per_hour check", args, batches=f"{few} and {many} of 10 points in the hour")
    from mcp import Client

    from cublab.app.quotas import enforce
    from cublab.config import Settings
    from cublab.domain.identity import human_identity, parse_identity
    from cublab.mcp_server import build_server
    from cublab.runtime import Runtime

    clock = Clock()
    db = Path(tempfile.mkdtemp(prefix="cublab-bench-quota-")) / "q.db"
    runtime = Runtime(Settings(db=f"sqlite:///{db}", agent=AGENT, policy_path=None), clock=clock)
    actor = parse_identity(AGENT)
    runtime.quotas.set(actor, "points_per_hour", 1_000_000_000, human_identity("human:bench"))
    medians: dict[int, float] = {}
    async with Client(build_server(runtime)) as client:

        async def call(tool: str, **arguments: object) -> dict:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content[0].text
            return result.structured_content

        sandbox = await call("sandbox_spawn", name="s", purpose="p", ttl="24h")
        exp = await call(
            "experiment_create",
            sandbox_id=sandbox["id"],
            name="e",
            hypothesis="h",
            objective_metric="m",
            direction="minimize",
        )
        await call("variant_log", experiment_id=exp["id"], name="v", configuration='{"k": 1}')
        points = [{"variant": "v", "metric": "m", "value": float(k)} for k in range(10)]
        logged = 0
        for target in (few, many):
            while logged < target:
                await call("result_log", experiment_id=exp["id"], points=points)
                clock.now += timedelta(seconds=3)  # 1,000 batches span 50 minutes: all in the hour
                logged += 1
            times = []
            for _ in range(checks):
                with runtime.ctx.db.write() as session:
                    session.connection()
                    start = time.perf_counter()
                    enforce(runtime.ctx, session, actor, "points_per_hour", adding=1000)
                    times.append(time.perf_counter() - start)
            medians[target] = statistics.median(times)
            print(f"  {target:5d} batches in the hour: check median {medians[target] * 1e3:.3f} ms")
    runtime.close()
    ratio = medians[many] / medians[few]
    verdicts = Verdicts(args)
    verdicts.check(f"{many} batches <= {TARGET}x {few} batches", ratio <= TARGET, f"{ratio:.2f}x")
    verdicts.exit()


if __name__ == "__main__":
    anyio.run(main)
