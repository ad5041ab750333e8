"""`cublab serve --http` as a subprocess, and MCP clients that act as an agent: with a bearer token for it
(`cublab tokens`), or, on a `--no-auth` server, with the X-Cublab-Agent header."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from cublab.domain.identity import Identity
from support.runtime import environ_without_settings, make_runtime

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


@dataclass
class HttpServer:
    """A running `cublab serve --http`: its MCP URL and database, and tokens for agents on it."""

    url: str
    db: str
    log: Path
    auth: bool = True

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")

    def token(
        self, agent: str, scope: str = "write", toolsets: list[str] | None = None, expires: str | None = None
    ) -> str:
        """A token for `agent`, made as a human would with `cublab tokens create` (through the same use case)."""
        from cublab.domain.identity import parse_identity

        runtime = make_runtime(self.db)
        try:
            return runtime.tokens.create(parse_identity(agent), TOKEN_ISSUER, scope, expires, toolsets).token
        finally:
            runtime.close()

    def headers(self, agent: str, **token: Any) -> dict[str, str]:
        """What a client acting as `agent` sends: a bearer token, or (with --no-auth) the X-Cublab-Agent header."""
        if self.auth:
            return {"Authorization": f"Bearer {self.token(agent, **token)}"}
        return {"X-Cublab-Agent": agent}


TOKEN_ISSUER = Identity("human", "human:token-admin")


def wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"cublab serve --http exited with {proc.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"cublab serve --http did not listen within {START_TIMEOUT}s") from None
            time.sleep(0.05)


@contextmanager
def serve_http(
    db: str, agent: str, log: Path, *, auth: bool = True, args: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[HttpServer]:
    """Run `cublab serve --http` on `db` until the block ends: with bearer tokens (`auth`), else `--no-auth`."""
    port = free_port()
    command = [*cublab_command(), "serve", "--http", "--port", str(port), "--db", db, "--agent", agent, *args]
    if not auth:
        command.append("--no-auth")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env={**child_env(), **(env or {})}
        )
    try:
        wait_until_listening(proc, port, log)
        yield HttpServer(f"http://127.0.0.1:{port}/mcp", db, log, auth)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def http_client(url: str, headers: dict[str, str], mode: str = "auto") -> AsyncIterator[Client]:
    """An MCP client over HTTP sending `headers` on every request."""
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


@asynccontextmanager
async def agent_client(server: HttpServer, agent: str, mode: str = "auto", **token: Any) -> AsyncIterator[Client]:
    """An MCP client over HTTP that acts as `agent`: a fresh token for it (or its header with --no-auth)."""
    async with http_client(server.url, server.headers(agent, **token), mode) as client:
        yield client
