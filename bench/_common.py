"""What every benchmark shares: argument parsing, medians, and the verdict line.

Benchmarks are scripts, not tests: they print figures, a ratio against a
baseline measured in the same run, the target and whether it is met. They exit
0 whether or not the target is met (a smoke test runs them with --quick so they
don't rot); pass --strict to exit 1 on a missed target.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Benchmarks write throwaway databases: their audit key and witnesses go to a throwaway directory
# too, not the user's config dir, unless the environment names a key (subprocesses inherit this).
if not (os.environ.get("CUBLAB_AUDIT_KEY") or os.environ.get("CUBLAB_AUDIT_KEY_FILE")):
    import tempfile

    _audit_dir = tempfile.mkdtemp(prefix="cublab-bench-audit-")
    atexit.register(shutil.rmtree, _audit_dir, ignore_errors=True)
    os.environ["CUBLAB_AUDIT_KEY_FILE"] = os.path.join(_audit_dir, "audit.key")


def parse_args(description: str, **flags: str) -> argparse.Namespace:
    """--quick and --strict, and a bench's own boolean flags (name=help; `ten_million` is `--ten-million`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a small, fast smoke run (figures are not meaningful)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    for name, text in flags.items():
        parser.add_argument("--" + name.replace("_", "-"), action="store_true", help=text)
    return parser.parse_args()


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """min..max, so a reader sees how noisy the median is."""
    return f"min {min(values):.4g}, max {max(values):.4g}, n={len(values)}"


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


class Verdicts:
    """Collects target checks and prints them; the exit code follows --strict."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.missed: list[str] = []

    def check(self, what: str, met: bool, detail: str) -> None:
        mark = "MET" if met else "NOT MET"
        if self.args.quick:
            mark += " (quick run: not meaningful)"
        print(f"  target {what}: {detail} -> {mark}")
        if not met:
            self.missed.append(what)

    def exit(self) -> None:
        sys.stdout.flush()
        if self.args.strict and self.missed and not self.args.quick:
            sys.exit(1)


def header(title: str, args: argparse.Namespace, **setup: object) -> None:
    print(f"== {title}{' (QUICK)' if args.quick else ''}")
    for key, value in setup.items():
        print(f"  {key}: {value}")


def repeat(fn: Callable[[], float], times: int) -> list[float]:
    return [fn() for _ in range(times)]


class Workbench:
    """An in-process MCP client on a fresh cublab runtime, with one live experiment and its variants."""

    def __init__(self, runtime, client, experiment_id: str, variant_ids: list[str]) -> None:
        self.runtime, self.client, self.experiment_id, self.variant_ids = runtime, client, experiment_id, variant_ids

    async def call(self, tool: str, **args):
        result = await self.client.call_tool(tool, args)
        assert not result.is_error, result.content[0].text
        return result.structured_content


@contextlib.asynccontextmanager
async def workbench(db: Path, agent: str, variants: int):
    from mcp import Client

    from cublab.config import Settings
    from cublab.mcp_server import build_server
    from cublab.runtime import Runtime

    runtime = Runtime(Settings(db=str(db), agent=agent, policy_path=None))
    try:
        async with Client(build_server(runtime)) as client:
            bench = Workbench(runtime, client, "", [])
            sandbox = await bench.call("sandbox_spawn", name="bench", purpose="benchmark", ttl="1h")
            experiment = await bench.call(
                "experiment_create",
                sandbox_id=sandbox["id"],
                name="bench",
                hypothesis="h",
                objective_metric="latency_ms",
                direction="minimize",
            )
            bench.experiment_id = experiment["id"]
            for k in range(variants):
                logged = await bench.call(
                    "variant_log",
                    experiment_id=bench.experiment_id,
                    name=f"v{k:02d}",
                    configuration=json.dumps({"k": k}),
                )
                bench.variant_ids.append(logged["variant"]["id"])
            yield bench
    finally:
        runtime.close()
