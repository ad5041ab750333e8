"""result_log in 1,000-point batches against MLflow's log_batch of the same points, interleaved batch by batch.

Issue 12 asks for every figure as a ratio against a baseline measured in the same run, and for logging
results that includes MLflow's `log_batch` where installed. It sets no target for this ratio: the ratio is
reported, not judged (`--strict` never fails this bench). MLflow is optional: where `import mlflow` fails,
the script says how to install it and exits 0.

The points are bench/ledger.py's without repetitions, which MLflow has no field for: point k of a run goes
to variant k mod 4 (a variant id), metric "latency_ms", a Gaussian value, step k div 4. MLflow gets each as
`Metric(key=f"{variant}/{metric}", value, timestamp=<the batch's wall clock, ms>, step)`: one MLflow key per
cublab series, the same values and steps, the same number of points per batch and per run.

What each side does per batch:
- cublab, `result_log` through the in-process MCP client (JSON-RPC over memory streams, the SDK validating
  the arguments): every point's bounds, the secret gate on the metric names, the experiment's owner, its
  sandbox and the hourly points quota, the points' sha256 digest, a batch row, the running summaries of the
  series touched, the points by executemany, an audit event with its MAC (checkpointed to the witness
  file after commit), one transaction on SQLite in WAL mode with synchronous=NORMAL.
- MLflow, `MlflowClient(tracking_uri).log_batch(run_id, metrics=...)`, a direct Python call with no
  transport; the client copies each Metric. SQLite store (`sqlite:///<tmp>/mlflow.db`, SQLAlchemy store):
  the batch's limits and each metric's key and value are validated, the run is read to check that it is
  active (in two sessions), one ORM object per metric is added, the run's latest value of each key is read
  and updated, and it commits once; SQLite as MLflow opens it (rollback journal, synchronous=FULL). File store (`file://<tmp>/mlruns`, in
  maintenance mode since MLflow 3, enabled with MLFLOW_ALLOW_FILE_STORE): the run's meta.yaml is read, then
  one line per metric is appended to its key's file, an open and close each, with no transaction and no fsync.
Every leg gets a fresh store per run; the leg that goes first rotates batch by batch.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import anyio

from _common import header, median, parse_args, spread, workbench

BATCH = 1_000
VARIANTS = 4
METRIC = "latency_ms"
AGENT = "agent:bench-mlflow"
INSTALL = "pip install mlflow-skinny"


def import_mlflow() -> ModuleType | None:
    """MLflow, or None where it is not installed.

    This script is named like the package: its own directory comes first on sys.path, where `import mlflow`
    would find this file. It is dropped from the path (_common is imported by now). MLflow is told not to
    send usage telemetry, and to allow the file store it refuses by default since MLflow 3."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        import mlflow
    except ModuleNotFoundError as missing:
        if missing.name != "mlflow":
            raise  # installed but broken: say so rather than "not installed"
        return None
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not "Creating initial MLflow database tables..."
    return mlflow


def make_batches(variants: list[str], total: int, seed: int) -> list[list[dict]]:
    rng = random.Random(seed)
    points = [
        {
            "variant": variants[k % len(variants)],
            "metric": METRIC,
            "value": rng.gauss(100.0, 10.0),
            "step": k // len(variants),
        }
        for k in range(total)
    ]
    return [points[i : i + BATCH] for i in range(0, total, BATCH)]


class MlflowLeg:
    """One MLflow tracking store with one experiment and one active run, as a user's script would have."""

    def __init__(self, mlflow: ModuleType, uri: str) -> None:
        from mlflow.entities import Metric

        self.client = mlflow.MlflowClient(tracking_uri=uri)
        self.run_id = self.client.create_run(self.client.create_experiment("bench")).info.run_id
        self.metric = Metric

    def metrics(self, batch: list[dict]) -> list:
        timestamp = int(time.time() * 1000)
        return [
            self.metric(key=f"{p['variant']}/{p['metric']}", value=p["value"], timestamp=timestamp, step=p["step"])
            for p in batch
        ]

    def log(self, metrics: list) -> float:
        start = time.perf_counter()
        self.client.log_batch(self.run_id, metrics=metrics)
        return time.perf_counter() - start

    def stored(self, keys: list[str]) -> int:
        return sum(len(self.client.get_metric_history(self.run_id, key)) for key in keys)


async def one_run(mlflow: ModuleType, tmp: Path, total: int, seed: int) -> dict[str, float]:
    """Points/s of each leg over the same batches, interleaved batch by batch."""
    legs = {
        "sqlite": MlflowLeg(mlflow, f"sqlite:///{tmp}/mlflow-{seed}.db"),
        "file": MlflowLeg(mlflow, (tmp / f"mlruns-{seed}").as_uri()),
    }
    times = {"cublab": 0.0, **dict.fromkeys(legs, 0.0)}
    async with workbench(tmp / f"cublab-{seed}.db", AGENT, variants=VARIANTS) as bench:

        async def cublab(batch: list[dict]) -> float:
            start = time.perf_counter()
            logged = await bench.call("result_log", experiment_id=bench.experiment_id, points=batch)
            elapsed = time.perf_counter() - start
            assert logged["points"] == len(batch), logged
            return elapsed

        for n, batch in enumerate(make_batches(bench.variant_ids, total, seed)):
            arguments = {name: leg.metrics(batch) for name, leg in legs.items()}
            order = list(times)
            for name in order[n % len(order) :] + order[: n % len(order)]:
                times[name] += await cublab(batch) if name == "cublab" else legs[name].log(arguments[name])
        keys = [f"{variant}/{METRIC}" for variant in bench.variant_ids]
    for name, leg in legs.items():
        assert leg.stored(keys) == total, f"MLflow {name} store holds {leg.stored(keys)} of {total} points"
    return {name: total / elapsed for name, elapsed in times.items()}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    total, runs = (3_000, 1) if args.quick else (50_000, 5)
    title = "bench/mlflow.py: result_log against MLflow's log_batch"
    mlflow = import_mlflow()
    if mlflow is None:
        header(title, args, mlflow=f"not installed in this Python ({sys.executable}): the comparison is skipped")
        print(f"  to measure it: {INSTALL}  (MLflow's tracking client; its SQLite store runs on cublab's SQLAlchemy)")
        print("  target none (issue 12 sets no figure against MLflow): nothing to compare -> SKIPPED")
        return
    import sqlalchemy

    header(
        title,
        args,
        points=f"{total:,} per run, batches of {BATCH:,}, interleaved (the leg that goes first rotates)",
        runs=runs,
        mlflow=f"{mlflow.__version__}, SQLAlchemy {sqlalchemy.__version__}",
        stores="a fresh cublab SQLite file, MLflow SQLite store and MLflow file store per run",
    )
    rates = []
    with tempfile.TemporaryDirectory(prefix="cublab-bench-mlflow-") as tmp:
        for run in range(runs):
            rate = anyio.run(one_run, mlflow, Path(tmp), total, run)
            rates.append(rate)
            print(
                f"  run {run + 1}: cublab {rate['cublab']:,.0f}, MLflow SQLite {rate['sqlite']:,.0f}, "
                f"MLflow file store {rate['file']:,.0f} points/s"
            )
    ratio_sqlite = [r["cublab"] / r["sqlite"] for r in rates]
    ratio_file = [r["cublab"] / r["file"] for r in rates]
    print(f"  result_log, in-process MCP client: median {median([r['cublab'] for r in rates]):,.0f} points/s")
    print(f"  MLflow log_batch, SQLite store: median {median([r['sqlite'] for r in rates]):,.0f} points/s")
    print(f"  MLflow log_batch, file store: median {median([r['file'] for r in rates]):,.0f} points/s")
    print(f"  ratio cublab/MLflow SQLite: median {median(ratio_sqlite):.2f} ({spread(ratio_sqlite)})")
    print(f"  ratio cublab/MLflow file store: median {median(ratio_file):.2f} ({spread(ratio_file)})")
    quick = " (quick run: not meaningful)" if args.quick else ""
    print(
        f"  target none (issue 12 sets no figure against MLflow): cublab/MLflow SQLite {median(ratio_sqlite):.2f}, "
        f"file store {median(ratio_file):.2f} -> REPORTED, NOT JUDGED{quick}"
    )


if __name__ == "__main__":
    main()
