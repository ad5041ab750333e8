"""`cublab demo` (the README's first command) runs the governed workflow end to end,
and the commands it prints for the human really review, decide and apply the proposal: register
a throwaway SSH key (`ssh-keygen -t ed25519 -N ""`) and sign the production decision with it."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cublab.app import context
from cublab.cli import app as cli_app
from support.reviewers import make_key
from support.runtime import AUDIT_KEY_FILE_ENV


def test_demo_ends_with_a_pending_proposal_a_human_can_apply(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "demo.db"
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "COLUMNS": "200",
        AUDIT_KEY_FILE_ENV: os.environ[AUDIT_KEY_FILE_ENV],  # the key the in-process reviewer below verifies with
    }
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
    # The target is production: decisions there are signed with the reviewer's SSH key, registered first.
    assert any(c.startswith("cublab reviewers add") for c in commands)
    assert any("--sign-with ~/.ssh/id_ed25519" in c for c in commands)
    assert out.rstrip().splitlines()[-1].startswith(f"or review it in your browser:  cublab ui --db {db}"), (
        "the demo's last line says how to open the review console"
    )
    ssh = tmp_path / ".ssh"
    make_key(ssh, "id_ed25519")  # the reviewer's key where the printed commands look for it
    runner = CliRunner()
    for command in commands:
        args = shlex.split(command)[1:]  # as a shell would (the CLI expands ~ itself)
        if "<another-name>" in command:  # a second approver: another person, key and OS account
            second = make_key(ssh, "second")
            args = [a.replace("<another-name>", "second-reviewer").replace("<their-key>", str(second)) for a in args]
            monkeypatch.setattr(context, "_os_account", lambda: "second-reviewer(uid 2)@demo")
        else:
            monkeypatch.setattr(context, "_os_account", lambda: "demo-reviewer(uid 1)@demo")
        result = runner.invoke(cli_app, args, env={"HOME": str(tmp_path), "CUBLAB_AGENT": None})
        assert result.exit_code == 0, f"{command}\n{result.output}"
    shown = runner.invoke(cli_app, ["authority", "show", "messagewall-prod", "event-handler", "--db", str(db)])
    assert "lambdaMemory: 2048" in shown.output and "head 2" in shown.output
    # The terminal reviewer reaches the rest after the demo: who approved and applied, the experiment in full.
    revision = runner.invoke(
        cli_app, ["authority", "show", "messagewall-prod", "event-handler", "--revision", "2", "--db", str(db)]
    )
    reviewer = next(c for c in commands if c.startswith("cublab proposals ack")).split("--as ")[1].split()[0]
    assert f"approved by: {reviewer}" in revision.output and f"applied by:  {reviewer}" in revision.output
    assert "proposed by: agent:cublab-demo" in revision.output
    listed = runner.invoke(cli_app, ["experiments", "list", "--state", "applied", "--db", str(db)])
    experiment = next(word for word in listed.output.split() if word.startswith("exp_"))
    shown = runner.invoke(cli_app, ["experiments", "show", experiment, "--db", str(db)])
    assert (
        shown.exit_code == 0 and "more memory lowers p95 latency" in shown.output and "verdict winner" in shown.output
    )
