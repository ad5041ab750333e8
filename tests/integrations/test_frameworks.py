"""cublab through each agent framework's own MCP adapter, each in its own virtual environment.

Every test runs one of examples/*.py with the interpreter of that framework's environment (built from
the pins beside this file and cached, see envs.py), against `cublab serve` from cublab's own environment,
over stdio or streamable HTTP. The example loads the tools through the framework and calls them the way
the framework calls them for a model (no LLM): a refused call first, then the whole governed workflow,
ending in a pending proposal, which is checked in the database afterwards.

Run with `pytest -m integrations tests/integrations` (the default run leaves this tier out: CI runs it on
its own, after `python tests/integrations/envs.py` has built or restored the environments).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from cublab.app.inputs import ProposalRef
from cublab.domain.identity import human_identity
from cublab.mcp_server import TOOLS, _tools
from integrations import envs
from support.runtime import make_runtime
from support.serve import child_env, cublab_command, serve_http

pytestmark = pytest.mark.integrations

EXAMPLES = Path(__file__).parents[2] / "examples"
RUN_TIMEOUT = 240.0  # seconds; a run takes a few when the machine is idle
BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs"}
REFUSAL = "production is a production context; a sandbox runs beside production, never in it"


def framework_python(framework: str) -> Path:
    try:
        return envs.python_of(framework)
    except envs.EnvUnavailable as exc:
        pytest.skip(f"{framework} cannot be installed here: {exc}")


@pytest.fixture
def governed_db(tmp_path: Path) -> Path:
    """A database whose embedded authority governs web-prod/handler (a human imported it), as the examples expect."""
    db = tmp_path / "cublab.db"
    runtime = make_runtime(str(db))
    try:
        runtime.review.import_unit("web-prod", "handler", BASE, human_identity("human:integration"), tier="staging")
    finally:
        runtime.close()
    return db


def run_example(framework: str, script: str, db: Path, agent: str, *extra: str) -> str:
    python = framework_python(framework)
    server = cublab_command()
    assert len(server) == 1, f"no cublab console script beside {server[0]}: install cublab (pip install -e .)"
    cublab = server[0]
    command = [str(python), str(EXAMPLES / script), "--cublab", cublab, "--db", str(db), "--agent", agent, *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=child_env())
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


def check_workflow(output: str, db: Path, agent: str) -> None:
    """The refusal reached the agent as readable text, and the workflow ended in a pending proposal by this agent."""
    refused = [line for line in output.splitlines() if line.startswith("REFUSED sandbox_spawn: ")]
    assert refused and REFUSAL in refused[0], output
    assert "Traceback" not in refused[0]
    found = re.search(r"^WORKFLOW OK (prp_\w+)$", output, re.M)
    assert found, output
    runtime = make_runtime(str(db))
    try:
        proposal = runtime.proposals.get(ProposalRef(proposal_id=found.group(1)))
    finally:
        runtime.close()
    assert proposal.state == "pending"
    assert proposal.target.space == "web-prod" and proposal.target.unit == "handler"
    assert proposal.proposer.identity == agent and proposal.proposer.model == "scripted"


def test_langchain_mcp_adapters(governed_db: Path) -> None:
    agent = "agent:langchain-1"
    check_workflow(run_example("langchain", "langchain_agent.py", governed_db, agent), governed_db, agent)


def test_openai_agents_over_stdio_with_strict_schemas(governed_db: Path) -> None:
    agent = "agent:openai-1"
    output = run_example("openai-agents", "openai_agents.py", governed_db, agent)
    assert f"STRICT {len(TOOLS)}/{len(TOOLS)} tools\n" in output, "every tool converts to a strict schema"
    check_workflow(output, governed_db, agent)


def test_openai_agents_over_streamable_http(governed_db: Path, tmp_path: Path) -> None:
    agent = "agent:openai-2"
    with serve_http(str(governed_db), "agent:cublab-server", tmp_path / "serve.log") as server:
        extra = ("--url", server.url, "--token", server.token(agent))
        output = run_example("openai-agents", "openai_agents.py", governed_db, agent, *extra)
    assert f"STRICT {len(TOOLS)}/{len(TOOLS)} tools\n" in output
    check_workflow(output, governed_db, agent)


def test_pydantic_ai_toolset_with_strict_tools(governed_db: Path) -> None:
    agent = "agent:pydantic-1"
    output = run_example("pydantic-ai", "pydantic_ai_agent.py", governed_db, agent)
    assert f"STRICT {len(TOOLS)}/{len(TOOLS)} tools; lost: []\n" in output, "strict mode takes no argument away"
    check_workflow(output, governed_db, agent)


def test_fastmcp_client(governed_db: Path) -> None:
    agent = "agent:fastmcp-1"
    check_workflow(run_example("fastmcp", "fastmcp_client.py", governed_db, agent), governed_db, agent)


def test_llama_index_tools_mcp(governed_db: Path, tmp_path: Path) -> None:
    """Over HTTP: llama-index's client opens a session per call, which over stdio is a server process per call."""
    agent = "agent:llama-1"
    with serve_http(str(governed_db), "agent:cublab-server", tmp_path / "serve.log") as server:
        extra = ("--url", server.url, "--token", server.token(agent))
        output = run_example("llama-index", "llama_index_agent.py", governed_db, agent, *extra)
    assert "SCHEMA result_log points fields: ['metric', 'repetition', 'step', 'value', 'variant']" in output
    check_workflow(output, governed_db, agent)


def argument_paths(schema: dict, where: str = "", defs: dict | None = None) -> set[str]:
    """Every argument path of a published input schema (`labels[].key`), references followed."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        schema = defs[schema["$ref"].removeprefix("#/$defs/")]
    paths = set()
    for name, sub in schema.get("properties", {}).items():
        paths |= {f"{where}{name}"} | argument_paths(sub, f"{where}{name}.", defs)
    if isinstance(schema.get("items"), dict):
        paths |= argument_paths(schema["items"], f"{where.rstrip('.')}[].", defs)
    return paths


def test_gemini_conversion_keeps_every_argument_and_its_description() -> None:
    """google-genai's own conversion of MCP tools: every argument, nested ones included, arrives described
    (it used to drop the description of every optional argument, which was wrapped in anyOf)."""
    python = framework_python("gemini")
    published = {tool.name: tool.parameters for tool in _tools()}
    done = subprocess.run(
        [str(python), str(Path(__file__).parent / "gemini_convert.py")],
        input=json.dumps(published),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout)
    for name, schema in published.items():
        assert set(report[name]) == argument_paths(schema), name
        undescribed = sorted(path for path, described in report[name].items() if not described)
        assert not undescribed, f"{name}: Gemini's schema lost the description of {undescribed}"
    assert {"labels[].key", "labels[].value"} <= set(report["sandbox_spawn"])
