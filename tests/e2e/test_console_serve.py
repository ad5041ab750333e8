"""`cublab serve --http --ui`: the console at /ui beside /mcp, each with its own auth, in one process;
and `cublab ui`'s start-up refusals, which come before any socket opens."""

from __future__ import annotations

import re
import subprocess

import httpx
import pytest

from support.mcp import call
from support.serve import agent_client, child_env, cublab_command, serve_http


@pytest.mark.anyio
async def test_the_console_is_mounted_beside_mcp(tmp_path) -> None:
    """/ui takes its own login; /mcp keeps its bearer tokens; both over one database in one process."""
    log = tmp_path / "serve.log"
    with serve_http(
        str(tmp_path / "cublab.db"), "agent:pytest-serve1", log, args=["--ui", "--as", "human:carol"]
    ) as server:
        base = server.url.removesuffix("/mcp")
        found = re.search(rf"{re.escape(base)}/ui/login\?token=\S+", log.read_text())
        assert found, f"no console URL: {log.read_text()}"
        async with httpx.AsyncClient(follow_redirects=False) as browser:
            assert (await browser.get(f"{base}/ui/")).status_code == 401
            assert (await browser.post(f"{base}/mcp", json={})).status_code == 401, "the MCP endpoint keeps its auth"
            login = await browser.get(found.group(0))
            assert login.status_code == 303 and login.headers["location"] == "/ui/"
            assert "path=/ui/" in login.headers["set-cookie"].lower()
            async with agent_client(server, "agent:pytest-serve1") as client:
                await call(client, "sandbox_spawn", name="s", purpose="p", ttl="1h")
            inbox = await browser.get(f"{base}/ui/")
            assert inbox.status_code == 200 and "signed in as <strong>human:carol</strong>" in inbox.text
            assert "<strong>1</strong> live sandbox(es)" in inbox.text, "the console reads what the agent wrote"


def test_ui_refuses_to_start_for_an_agent_or_on_an_open_address(tmp_path) -> None:
    db = str(tmp_path / "cublab.db")
    agent_env = {**child_env(), "CUBLAB_AGENT": ""}
    done = subprocess.run(
        [*cublab_command(), "ui", "--db", db], env=agent_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "CUBLAB_AGENT is set" in done.stderr
    done = subprocess.run(
        [*cublab_command(), "ui", "--db", db, "--host", "0.0.0.0"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "not a loopback address" in done.stderr and "--trusted-user-header" in done.stderr
    done = subprocess.run(
        [*cublab_command(), "ui", "--db", db, "--as", "agent:claude-code-session1"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--as" in done.stderr
    done = subprocess.run(
        [*cublab_command(), "serve", "--ui", "--db", db, "--agent", "agent:x-y"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "add --http" in done.stderr
