"""The installed `cublab serve` over stdio and streamable HTTP, driven as a real agent host would.

Subprocess cold starts cost seconds, so each server runs once per module: the stdio
run and the HTTP server each play the same scripted session on a fresh database at
start-up, and the parity test compares them with the in-process answer. Ids and
timestamps differ between runs; everything else, error messages included, must not.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from cublab.app.inputs import ListSandboxes
from cublab.mcp_server import build_server
from support.mcp import call
from support.runtime import AGENT, AGENT_PRINCIPAL, make_runtime
from support.serve import HttpServer, child_env, cublab_command, http_client, serve_http

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


# ---- the scripted session and its normalisation -------------------------------------------------

ID = re.compile(r"\b(?:sbx|exp|var|prp|dec|obl)_[0-9a-z]{26}\b")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
BATCH_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class Normaliser:
    """Ids become <id1>, <id2>, … in order of first appearance; timestamps become <time>.

    The result batch digest hashes variant ids, so it is checked for shape and replaced."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def _id(self, match: re.Match[str]) -> str:
        return self.ids.setdefault(match.group(), f"<id{len(self.ids) + 1}>")

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {self(k): self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            if key == "digest":
                assert BATCH_DIGEST.match(value), value
                return "<digest>"
            return TIMESTAMP.sub("<time>", ID.sub(self._id, value))
        return value


async def scripted_session(client: Client) -> list[dict[str, Any]]:
    """Steps 1-4 of the seed's workflow plus bad input, as one normalised transcript."""
    normalise = Normaliser()
    transcript: list[dict[str, Any]] = []

    async def step(tool: str, **arguments: Any) -> dict[str, Any] | None:
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            transcript.append({"tool": tool, "error": normalise(result.content[0].text)})
            return None
        transcript.append({"tool": tool, "result": normalise(result.structured_content)})
        return result.structured_content

    sandbox = await step(
        "sandbox_spawn",
        name="parity",
        purpose="same calls, same answers",
        ttl="2h",
        labels=[{"key": "team", "value": "lab"}],
        explanation="parity across transports",
    )
    assert sandbox is not None, transcript[-1]
    experiment = await step(
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="workers vs p95",
        hypothesis="more workers lower p95",
        objective_metric="p95_ms",
        direction="minimize",
        target_space="app-dev",
        target_unit="worker-pool",
    )
    assert experiment is not None, transcript[-1]
    exp_id = experiment["id"]
    first = await step(
        "variant_log", experiment_id=exp_id, name="w2", configuration=json.dumps({"workers": 2, "queue": "sqs"})
    )
    await step(
        "variant_log",
        experiment_id=exp_id,
        name="w4",
        configuration="workers: 4\nqueue: sqs\n",
        description="YAML text",
    )
    await step("variant_log", experiment_id=exp_id, name="w8", configuration=json.dumps({"workers": 8, "queue": "sqs"}))
    assert first is not None, transcript[-3]
    points = [
        {"variant": first["variant"]["id"], "metric": "p95_ms", "value": 250.0 + r % 3, "repetition": r}
        for r in range(6)
    ]
    points += [
        {"variant": name, "metric": "p95_ms", "value": base + (r % 3) * 1.5, "repetition": r, "step": 1}
        for name, base in (("w4", 150.0), ("w8", 100.0))
        for r in range(6)
    ]
    await step("result_log", experiment_id=exp_id, points=points, explanation="six runs each")
    await step("experiment_compare", experiment_id=exp_id)
    await step("experiment_get", experiment_id=exp_id)
    await step("sandbox_list")
    # bad input: each must be a tool error with the same message on every transport
    await step("variant_log", experiment_id=exp_id, name="n" * 201, configuration=json.dumps({"workers": 1}))
    await step(
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="sideways",
    )
    await step("sandbox_spawn", name="too long", purpose="ttl over the maximum", ttl="100h")
    await step("sandbox_get", sandbox_id="sbx_00000000000000000000000000")
    await step("sandbox_destroy", sandbox_id=sandbox["id"], explanation="done")
    await step("result_log", experiment_id=exp_id, points=points[:1])  # the sandbox is gone now
    return transcript


def check_transcript(transcript: list[dict[str, Any]]) -> None:
    """What the session must show on any transport, so parity is not agreement on nonsense."""
    tools = [entry["tool"] for entry in transcript]
    errors = {i for i, entry in enumerate(transcript) if "error" in entry}
    assert errors == {9, 10, 11, 12, 14}, [(tools[i], transcript[i]) for i in errors]
    spawned = transcript[0]["result"]
    assert spawned["created_by"] == AGENT and spawned["owner"] == AGENT_PRINCIPAL
    assert spawned["labels"]["ephemeral"] == "true" and spawned["labels"]["team"] == "lab"
    assert tools[6] == "experiment_compare"
    compare = transcript[6]["result"]
    assert compare["verdict"] == "winner" and [v["name"] for v in compare["variants"]] == ["w8", "w4", "w2"]
    assert [s["id"] for s in transcript[8]["result"]["sandboxes"]] == [spawned["id"]]
    assert "name" in transcript[9]["error"] and "200" in transcript[9]["error"]
    assert "direction" in transcript[10]["error"]
    assert "ttl" in transcript[11]["error"]
    assert "sandbox_id" in transcript[12]["error"] and "no sandbox" in transcript[12]["error"]
    assert transcript[13]["result"]["status"] == "destroyed"
    assert "destroyed" in transcript[14]["error"]


# ---- servers ------------------------------------------------------------------------------------


@dataclass
class HttpRun:
    server: HttpServer
    token: str  # AGENT's write token
    transcript: list[dict[str, Any]]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **headers: str) -> Any:
        return http_client(self.url, {"Authorization": f"Bearer {self.token}", **headers})


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpRun]:
    """One `cublab serve --http` (with bearer tokens) for the module; the scripted session runs first, on an
    empty database, with a token for AGENT."""
    tmp = tmp_path_factory.mktemp("http")
    with serve_http(str(tmp / "cublab.db"), "agent:server-default", tmp / "server.log") as server:
        token = server.token(AGENT)

        async def play() -> list[dict[str, Any]]:
            async with http_client(server.url, {"Authorization": f"Bearer {token}"}) as client:
                return await scripted_session(client)

        yield HttpRun(server, token, anyio.run(play))


@pytest.fixture(scope="module")
def stdio_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The installed `cublab serve` over stdio, spawned by the MCP client: its tools and the scripted session."""
    db = str(tmp_path_factory.mktemp("stdio") / "cublab.db")
    params = StdioServerParameters(
        command=cublab_command()[0],
        args=[*cublab_command()[1:], "serve", "--db", db, "--agent", AGENT],
        env=child_env(),  # the SDK passes only HOME, PATH and the like; the run's audit key must reach the server
    )

    async def play() -> dict[str, Any]:
        async with Client(params) as client:
            tools = await client.list_tools()
            return {"db": db, "tools": [t.name for t in tools.tools], "transcript": await scripted_session(client)}

    return anyio.run(play)


# ---- tests --------------------------------------------------------------------------------------


def test_stdio_serve_runs_the_workflow(stdio_run: dict[str, Any]) -> None:
    assert {
        "sandbox_spawn",
        "experiment_create",
        "variant_log",
        "result_log",
        "experiment_compare",
        "sandbox_destroy",
    } <= set(stdio_run["tools"])
    check_transcript(stdio_run["transcript"])
    runtime = make_runtime(stdio_run["db"])  # what the subprocess wrote is really in its database
    try:
        [sandbox] = runtime.sandboxes.list(ListSandboxes()).sandboxes
        assert sandbox.status == "destroyed" and sandbox.created_by == AGENT
    finally:
        runtime.close()


async def test_http_serve_runs_the_workflow(http_server: HttpRun) -> None:
    check_transcript(http_server.transcript)
    async with http_server.client() as client:
        page = await call(client, "sandbox_list", status="destroyed")
    assert [s["name"] for s in page["sandboxes"]] == ["parity"]


async def test_same_calls_same_results_in_process_stdio_http(
    runtime, stdio_run: dict[str, Any], http_server: HttpRun
) -> None:
    async with Client(build_server(runtime)) as client:
        in_process = await scripted_session(client)
    check_transcript(in_process)
    for a, b, c in zip(in_process, stdio_run["transcript"], http_server.transcript, strict=True):
        assert a == b == c, json.dumps({"in_process": a, "stdio": b, "http": c}, indent=1)


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # the stateless 2026 protocol and the initialize handshake
async def test_http_identity_is_the_tokens_whatever_the_header_says(http_server: HttpRun, mode: str) -> None:
    agent = f"agent:token-{mode}"
    headers = {"Authorization": f"Bearer {http_server.server.token(agent)}", "X-Cublab-Agent": "agent:someone-else"}
    async with http_client(http_server.url, headers, mode) as client:
        sandbox = await call(client, "sandbox_spawn", name="by token", purpose="identity from the token")
        again = await call(client, "sandbox_get", sandbox_id=sandbox["id"])
    assert sandbox["created_by"] == agent and sandbox["owner"] == again["owner"] == "agent:token"


def read_message(proc: subprocess.Popen[str], deadline: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    assert ready, "no answer from cublab serve in time"
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, f"cublab serve closed stdout (exit code {proc.poll()})"
    return line


def test_stdio_stdout_carries_only_json_rpc(tmp_path: Path) -> None:
    """A raw client: legacy initialize handshake, tools/list, and a call that opens the database."""
    proc = subprocess.Popen(
        [*cublab_command(), "serve", "--db", str(tmp_path / "cublab.db"), "--agent", AGENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=child_env(),
    )
    lines: list[str] = []
    try:

        def send(message: dict[str, Any]) -> None:
            proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]

        def answer_to(request_id: int) -> dict[str, Any]:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                lines.append(read_message(proc, deadline))
                message = json.loads(lines[-1])
                if message.get("id") == request_id:
                    return message

        send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "raw-test", "version": "0"},
                },
            }
        )
        assert answer_to(1)["result"]["serverInfo"]["name"] == "cublab"
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/list"})
        assert "sandbox_spawn" in {t["name"] for t in answer_to(2)["result"]["tools"]}
        send(
            {
                "id": 3,
                "method": "tools/call",
                "params": {"name": "sandbox_spawn", "arguments": {"name": "raw", "purpose": "stdout check"}},
            }
        )
        assert answer_to(3)["result"]["structuredContent"]["created_by"] == AGENT
        proc.stdin.close()  # type: ignore[union-attr]
        lines.extend(proc.stdout.read().splitlines(keepends=True))  # type: ignore[union-attr]
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(lines) >= 3
    for line in lines:
        message = json.loads(line)  # anything else on stdout corrupts the protocol
        assert message.get("jsonrpc") == "2.0", line


def test_stdio_serve_refuses_a_human_identity(tmp_path: Path) -> None:
    done = subprocess.run(
        [*cublab_command(), "serve", "--db", str(tmp_path / "cublab.db"), "--agent", "human:alice"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=child_env(),
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert "human:alice" in done.stderr and "agent:<type>-<session>" in done.stderr
    assert not (tmp_path / "cublab.db").exists()


def test_scripted_agent_example_runs(tmp_path: Path) -> None:
    db = tmp_path / "example.db"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "scripted_agent.py"),
            "--db",
            str(db),
            "--agent",
            "agent:example-test",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "verdict: winner" in done.stdout
    runtime = make_runtime(str(db))
    try:
        [sandbox] = runtime.sandboxes.list(ListSandboxes()).sandboxes
        assert sandbox.status == "destroyed" and sandbox.created_by == "agent:example-test"
    finally:
        runtime.close()
