"""The guard's framework examples run, where their framework is installed (skipped, and listed, where not).

cublab does not depend on LangGraph, the OpenAI Agents SDK or pydantic-ai; an environment that has
them (a framework's own virtual environment) runs these. Each example runs without an LLM and must
show the guard refusing a production change with the governed path, and letting an allowed one run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.serve import child_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CASES = [
    ("langgraph", "guard_langgraph.py", ["refused by cublab", "variant_promote", "hello from an allowed command"]),
    ("agents", "guard_openai_agents.py", ["{'type': 'allow'}", "'type': 'reject_content'", "variant_promote"]),
    ("pydantic_ai", "guard_pydantic_ai.py", ["cublab guard:", "variant_promote"]),
]


@pytest.mark.parametrize(("module", "script", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_example_runs_with_its_framework(module: str, script: str, expected: list[str], tmp_path: Path) -> None:
    pytest.importorskip(module)
    (tmp_path / "web.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    env = {
        **child_env(),
        "CUBLAB_DB": str(tmp_path / "examples.db"),
        "CUBLAB_AGENT": "agent:examples-test1",
        "KUBECONFIG": str(tmp_path / "none"),
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for text in expected:
        assert text in done.stdout, done.stdout
