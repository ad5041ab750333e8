"""The MCP conformance suite's server scenarios against `cublab serve --http` with a bearer token configured.

The suite (`@modelcontextprotocol/conformance`, TypeScript) is an independent MCP client written by the
protocol's maintainers. It needs Node 22, which is installed from npm next to it and cached (support/
node_tools.py); the test skips, saying why, when npm cannot fetch them. Its client cannot send an
Authorization header, so it reaches cublab through a reverse proxy that adds the token made with
`cublab tokens create` (support/header_proxy.py); without the proxy its first request is refused with 401.

Many scenarios call fixtures of the suite's own reference server (tools such as `test_image_content`,
resources `test://…`, prompts `test_simple_prompt`) or protocol features cublab deliberately does not offer
(sampling, elicitation, completion, logging, subscriptions). Each is listed in EXPECTED_FAILURES with the
reason; the test fails if one of them starts passing (so the list stays true) and if any other scenario fails.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.header_proxy import Exchange, header_proxy
from support.node_tools import NodeTools, NodeUnavailable, node_tools
from support.serve import HttpServer, child_env, cublab_command, serve_http

NODE = "node@22.23.3"
SUITE_PACKAGE = "@modelcontextprotocol/conformance"
SUITE = f"{SUITE_PACKAGE}@0.1.16"
AGENT = "agent:conformance-suite"
RUN_TIMEOUT = 300.0


def _fixture(kind: str, name: str, what: str = "") -> str:
    return f"calls the suite's reference-server {kind} {name}, which cublab does not have{what}"


NO_ELICITATION = "cublab never elicits input from the client: agents pass everything as tool arguments"
EXPECTED_FAILURES: dict[str, str] = {
    "logging-set-level": "cublab offers no logging capability (logging/setLevel: method not found)",
    "completion-complete": "cublab offers no completion capability (completion/complete: method not found)",
    "tools-call-image": _fixture("tool", "test_image_content", "; cublab's tools answer JSON text, no images"),
    "tools-call-audio": _fixture("tool", "test_audio_content", "; cublab's tools answer JSON text, no audio"),
    "tools-call-embedded-resource": _fixture("tool", "test_embedded_resource"),
    "tools-call-mixed-content": _fixture("tool", "test_multiple_content_types"),
    "tools-call-with-logging": _fixture("tool", "test_tool_with_logging", ", and offers no logging capability"),
    "tools-call-with-progress": _fixture("tool", "test_tool_with_progress", "; cublab's tools send no progress"),
    "tools-call-sampling": "cublab never asks the client's model to generate text (no sampling), by design",
    "tools-call-elicitation": NO_ELICITATION,
    "elicitation-sep1034-defaults": NO_ELICITATION,
    "elicitation-sep1330-enums": NO_ELICITATION,
    "resources-read-text": _fixture("resource", "test://static-text", "; cublab's are cublab://policy etc."),
    "resources-read-binary": _fixture("resource", "test://static-binary", "; cublab's resources are JSON text"),
    "resources-templates-read": _fixture("resource template", "test://template/{id}/data"),
    "resources-subscribe": "cublab offers no resource subscriptions (resources/subscribe: method not found)",
    "resources-unsubscribe": "cublab offers no resource subscriptions (resources/unsubscribe: method not found)",
    "prompts-get-simple": _fixture("prompt", "test_simple_prompt"),
    "prompts-get-with-args": _fixture("prompt", "test_prompt_with_arguments"),
    "prompts-get-embedded-resource": _fixture("prompt", "test_prompt_with_embedded_resource"),
    "prompts-get-with-image": _fixture("prompt", "test_prompt_with_image"),
}
# The rest of the active suite must pass. Two of them call fixture tools too, and what they prove is narrower
# than their names: `tools-call-simple-text` and `tools-call-error` pass because cublab answers an unknown
# tool with a tool result that has isError and a text message (the suite checks exactly that shape).
MUST_PASS = {
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-error",
    "server-sse-multiple-streams",
    "resources-list",
    "prompts-list",
    "dns-rebinding-protection",
}


@pytest.fixture(scope="module")
def suite() -> NodeTools:
    try:
        return node_tools(NODE, SUITE)
    except NodeUnavailable as why:
        pytest.skip(f"the MCP conformance suite is not run: {why}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    where = tmp_path_factory.mktemp("conformance")
    with serve_http(str(where / "cublab.db"), AGENT, where / "serve.log") as running:
        yield running


def cli_token(server: HttpServer) -> str:
    """A token made as a human makes one: `cublab tokens create` (printed alone on stdout)."""
    done = subprocess.run(
        [*cublab_command(), "tokens", "create", "--agent", AGENT, "--as", "human:conformance-admin", "--db", server.db],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def run_suite(tools: NodeTools, url: str, out: Path, *args: str) -> dict[str, list[dict[str, object]]]:
    """Run `conformance server` against `url`; every scenario's checks, read from the files it saves."""
    entry = tools.script(SUITE_PACKAGE, "dist/index.js")
    done = subprocess.run(
        [str(tools.node), str(entry), "server", "--url", url, "-o", str(out), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    results: dict[str, list[dict[str, object]]] = {}
    for checks in sorted(out.glob("server-*/checks.json")):
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name.removeprefix("server-"))
        results[scenario] = json.loads(checks.read_text())
    assert results, f"the suite saved no results: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return results


def failures(checks: list[dict[str, object]]) -> list[str]:
    return [f"{c['name']}: {c.get('errorMessage')}" for c in checks if c["status"] in ("FAILURE", "WARNING")]


def test_the_conformance_suite_passes_through_a_token_adding_proxy(
    suite: NodeTools, server: HttpServer, tmp_path: Path
) -> None:
    token = cli_token(server)
    with header_proxy(server.base, {"Authorization": f"Bearer {token}"}) as (proxy, seen):
        results = run_suite(suite, f"{proxy}/mcp", tmp_path / "with-token")
    assert set(results) == MUST_PASS | set(EXPECTED_FAILURES), "the suite's scenarios changed: review both lists"
    broken = {name: failures(results[name]) for name in sorted(MUST_PASS) if failures(results[name])}
    assert not broken, broken
    now_passing = sorted(name for name in EXPECTED_FAILURES if not failures(results[name]))
    assert not now_passing, f"expected failures that now pass (remove them from EXPECTED_FAILURES): {now_passing}"
    # Every request carried the token and none was refused for authentication.
    assert seen and all(x.authorized for x in seen)
    assert not [x for x in seen if x.status in (401, 403)], seen


def test_without_the_token_the_suites_first_request_gets_401(
    suite: NodeTools, server: HttpServer, tmp_path: Path
) -> None:
    with header_proxy(server.base, {}) as (observer, seen):  # adds nothing: only watches the exchange
        observed = run_suite(suite, f"{observer}/mcp", tmp_path / "observed", "--scenario", "server-initialize")
    first: Exchange = seen[0]
    assert (first.method, first.path, first.authorized, first.status) == ("POST", "/mcp", False, 401)
    assert first.www_authenticate is not None and first.www_authenticate.startswith("Bearer ")
    assert "invalid_token" in first.www_authenticate and "resource_metadata=" in first.www_authenticate
    assert all(x.status == 401 for x in seen if x.path == "/mcp"), seen
    assert failures(observed["server-initialize"])
    # And straight at cublab, no proxy in between: the suite cannot even initialize.
    direct = run_suite(suite, server.url, tmp_path / "direct", "--scenario", "server-initialize")
    [refusal] = failures(direct["server-initialize"])
    assert "invalid_token" in refusal and "Authentication required" in refusal
