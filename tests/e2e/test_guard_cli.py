"""`cublab guard` as a process, as shell wrappers, CI and Claude Code run it: exit codes and hook JSON.

The installed console script runs with a fresh database per test; the exit status is 0 allow,
1 deny, 2 ask, 4 bad input, 3 a fault; the hook answers on stdout in Claude Code's PreToolUse
format (deny and ask as permissionDecision, allow as no decision) and never fails open."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support.serve import child_env, cublab_command

AGENT = "agent:e2e-guard1"


def run(args: list[str], db: Path, *, stdin: str | None = None, cwd: Path | None = None, env: dict | None = None):
    environ = {**child_env(), "CUBLAB_DB": str(db), "KUBECONFIG": str(db.parent / "no-kubeconfig"), **(env or {})}
    return subprocess.run(
        [*cublab_command(), "guard", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    (tmp_path / "web.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    return tmp_path / "guard.db"


def test_exit_codes_allow_deny_ask_and_bad_input(db: Path) -> None:
    cwd = db.parent
    allow = run(["--agent", AGENT, "--", "kubectl", "apply", "-f", "web.yaml", "--context", "kind-dev"], db, cwd=cwd)
    assert allow.returncode == 0, allow.stderr
    assert "allow" in allow.stderr and "criterion 2: Local Development" in allow.stderr
    deny = run(["--agent", AGENT, "--command", "kubectl apply -f web.yaml --context prod"], db, cwd=cwd)
    assert deny.returncode == 1 and "variant_promote" in deny.stderr
    assert run(["--agent", AGENT, "--command", "kubectl get pods"], db).returncode == 0
    assert run(["--agent", AGENT, "--command", "cub unit apply web --space shop"], db).returncode == 1
    assert run(["--agent", AGENT], db).returncode == 4  # no command
    assert run(["--agent", AGENT, "--bogus"], db).returncode == 4
    assert run(["--agent", AGENT, "--command", "kubectl get pods", "--sandbox", "nope"], db).returncode == 4
    as_json = run(["--agent", AGENT, "--json", "--command", "helm upgrade web ./c --kube-context prod"], db)
    answer = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and answer["verdict"] == "deny" and answer["agent"] == AGENT


def test_ask_under_a_declared_incident_exits_2(db: Path) -> None:
    from cublab.app.inputs import DeclareBreakGlass
    from cublab.domain.identity import human_identity
    from support.runtime import make_runtime

    runtime = make_runtime(str(db))
    runtime.review.import_unit("shop-prod", "web", {"replicas": 2}, human_identity("human:alice"), tier="production")
    runtime.breakglass.declare(
        DeclareBreakGlass(incident_id="INC-9", reason="web is down", units=["shop-prod/web"]), runtime.agent
    )
    runtime.close()
    ask = run(
        ["--agent", AGENT, "--incident", "INC-9", "--command", "kubectl rollout undo deploy/web --context prod"], db
    )
    assert ask.returncode == 2, ask.stderr
    hook = run(
        ["--hook", "claude-code"],
        db,
        stdin=hook_input("kubectl rollout undo deploy/web --context prod", db.parent),
        env={"CUBLAB_INCIDENT": "INC-9"},
    )
    out = json.loads(hook.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "ask" and "captured within 1h" in out["permissionDecisionReason"]
    undeclared = run(
        ["--agent", AGENT, "--incident", "INC-10", "--command", "kubectl rollout undo deploy/web --context prod"], db
    )
    assert undeclared.returncode == 1 and "breakglass_declare" in undeclared.stderr


def hook_input(command: str, cwd: Path, tool: str = "Bash") -> str:
    return json.dumps(
        {
            "session_id": "5f1c2a9e-0b7d-4c1e-9a3b-2d6e8f0a1b2c",
            "transcript_path": "/tmp/t.jsonl",
            "cwd": str(cwd),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": {"command": command, "description": "run it"},
            "tool_use_id": "toolu_01",
        }
    )


def test_the_claude_code_hook_answers_in_its_format(db: Path) -> None:
    cwd = db.parent
    denied = run(["--hook", "claude-code"], db, stdin=hook_input("kubectl apply -f web.yaml --context prod", cwd))
    assert denied.returncode == 0, denied.stderr
    out = json.loads(denied.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny"
    assert "variant_promote" in out["permissionDecisionReason"] and "decision dec_" in out["permissionDecisionReason"]
    allowed = run(["--hook", "claude-code"], db, stdin=hook_input("kubectl apply -f web.yaml --context kind-dev", cwd))
    assert allowed.returncode == 0 and json.loads(allowed.stdout) == {}  # no decision: Claude Code's own rules apply
    other_tool = run(["--hook", "claude-code"], db, stdin=hook_input("x", cwd, tool="Read"))
    assert other_tool.returncode == 0 and json.loads(other_tool.stdout) == {}
    # The agent is named after the Claude Code session when CUBLAB_AGENT is not set.
    import sqlite3

    with sqlite3.connect(db) as conn:
        actors = {r[0] for r in conn.execute("SELECT actor FROM bypass_decision")}
    assert actors == {"agent:claude-code-5f1c2a9e0b7d"}


def test_the_hook_never_fails_open(db: Path, tmp_path: Path) -> None:
    broken = tmp_path / "a-directory.db"
    broken.mkdir()  # a directory where the database file should be: a fault
    answer = run(
        ["--hook", "claude-code"], broken, stdin=hook_input("kubectl apply -f web.yaml --context kind-dev", tmp_path)
    )
    assert answer.returncode == 0, answer.stderr
    out = json.loads(answer.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "ask" and "could not decide" in out["permissionDecisionReason"]
    plain = run(["--agent", AGENT, "--command", "kubectl get pods"], broken)
    assert plain.returncode == 3 and "error:" in plain.stderr
    garbage = run(["--hook", "claude-code"], db, stdin="not json")
    assert garbage.returncode == 4


def test_the_guard_path_imports_neither_typer_nor_the_mcp_sdk(db: Path) -> None:
    probe = (
        "import sys; sys.argv = ['cublab', 'guard', '--agent', '" + AGENT + "', '--command', 'kubectl get pods'];"
        "from cublab.launcher import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, sorted(m for m in ('typer', 'rich', 'mcp', 'click') if m in sys.modules))"
    )
    import sys

    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**child_env(), "CUBLAB_DB": str(db)},
        timeout=120,
    )
    assert out.stdout.split("\n")[0] == "0 []", out.stdout + out.stderr


def test_an_older_script_that_calls_the_cli_still_reaches_the_guard(db: Path) -> None:
    import sys

    probe = (
        "import sys; sys.argv = ['cublab', 'guard', '--agent', '" + AGENT + "', '--command', 'kubectl delete ns x "
        "--context prod']\nfrom cublab.cli import main\nmain()"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**child_env(), "CUBLAB_DB": str(db)},
        timeout=120,
    )
    assert out.returncode == 1 and "deny" in out.stderr, out.stderr
    listed = subprocess.run([*cublab_command(), "--help"], capture_output=True, text=True, env=child_env(), timeout=120)
    assert "guard" in listed.stdout
