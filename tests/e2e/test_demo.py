"""`cublab demo` (the README's first command) runs the governed workflow end to end,
and the commands it prints for the human really review, decide and apply the proposal."""

import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cublab.cli import app as cli_app


def test_demo_ends_with_a_pending_proposal_a_human_can_apply(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "cublab", "demo", "--db", str(db)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in (
        "1. spawned sandbox",
        "2. logged 3 variants",
        "3. logged 36 measurements",
        "verdict: winner",
        "4. destroyed sandbox",
        "5. proposed",
    ):
        assert step in out, f"missing {step!r} in:\n{out}"
    commands = [line.strip() for line in out.splitlines() if line.startswith("  cublab ")]
    assert any(c.startswith("cublab proposals apply") for c in commands)
    runner = CliRunner()
    for command in commands:
        args = shlex.split(command)[1:]  # as a shell would
        if "--as" in args and "<another-name>" in " ".join(args):
            args[args.index("--as") + 1] = "human:second-reviewer"
        result = runner.invoke(cli_app, args, env={"USER": "demo-reviewer", "CUBLAB_AGENT": ""})
        assert result.exit_code == 0, f"{command}\n{result.output}"
    shown = runner.invoke(cli_app, ["authority", "show", "messagewall-prod", "event-handler", "--db", str(db)])
    assert "lambdaMemory: 2048" in shown.output and "head 2" in shown.output
