"""A bad policy file stops the real `cublab serve` (a subprocess) before it serves, naming the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support.policy_files import misspelt, without_criterion_8
from support.runtime import AGENT


@pytest.mark.parametrize("make", [misspelt, without_criterion_8])
def test_serve_refuses_a_bad_policy_at_start_up(tmp_path, make) -> None:
    path = make(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUBLAB_")}
    proc = subprocess.run(
        [sys.executable, "-m", "cublab", "serve", "--policy", path, "--db", str(tmp_path / "c.db"), "--agent", AGENT],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode != 0, "a bad policy must stop the server before it serves"
    assert proc.stdout == "", "nothing but protocol on stdout"
    assert "capture_withn" in proc.stderr if make is misspelt else "criteria" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
