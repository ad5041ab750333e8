"""Every benchmark still runs: each bench/<name>.py --quick exits 0 and prints its target lines.

The figures of a quick run mean nothing; this only keeps the scripts from rotting."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("[!_]*.py")))
def test_bench_runs_quick(name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "target " in done.stdout, done.stdout
