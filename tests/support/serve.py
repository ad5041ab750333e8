"""`cublab serve --http` as a subprocess, and MCP clients that name their agent with the X-Cublab-Agent header."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from support.runtime import environ_without_settings

START_TIMEOUT = 30.0


def cublab_command() -> list[str]:
    """The console script installed next to this interpreter, as an MCP host would run it."""
    script = Path(sys.executable).parent / "cublab"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cublab"]


def child_env() -> dict[str, str]:
    """Our environment without CUBLAB_* settings but the run's audit key (support/runtime.py)."""
    return environ_without_settings()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_http(db: str, agent: str, log: Path) -> Iterator[str]:
    """Run `cublab serve --http` on `db` until the block ends; yields its MCP URL."""
    port = free_port()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*cublab_command(), "serve", "--http", "--port", str(port), "--db", db, "--agent", agent],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            env=child_env(),
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"cublab serve --http exited with {proc.returncode}: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"cublab serve --http did not listen within {START_TIMEOUT}s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def agent_client(url: str, agent: str) -> AsyncIterator[Client]:
    """An MCP client over HTTP that acts as `agent` (the X-Cublab-Agent header)."""
    async with httpx2.AsyncClient(headers={"X-Cublab-Agent": agent}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client
