"""Idempotency keys over `cublab serve --http`, where each agent calls with its own bearer token: a key belongs
to the principal the token names. A later session of the same agent retrying with the key gets the first
answer; another agent using the same key string makes a call of its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from support.mcp import call
from support.runtime import make_runtime
from support.serve import agent_client, serve_http

pytestmark = pytest.mark.anyio

SPAWN = {"name": "tune", "purpose": "memory vs p95", "ttl": "2h", "idempotency_key": "spawn-0001"}


async def test_a_key_belongs_to_the_principal_its_token_names(tmp_path: Path) -> None:
    db = str(tmp_path / "cublab.db")
    make_runtime(db).close()  # migrated before the server starts
    with serve_http(db, "agent:server-default", tmp_path / "server.log") as server:
        async with agent_client(server, "agent:claude-desktop-session1") as first:
            sandbox = await call(first, "sandbox_spawn", **SPAWN)
        async with agent_client(server, "agent:claude-desktop-session2") as again:
            assert await call(again, "sandbox_spawn", **SPAWN) == sandbox, "a later session's retry is a repeat"
        async with agent_client(server, "agent:codex-cli-7f3a") as other:
            theirs = await call(other, "sandbox_spawn", **SPAWN)
    assert theirs["id"] != sandbox["id"] and theirs["owner"] == "agent:codex-cli"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM sandbox").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM audit_event WHERE action = 'sandbox.spawn'").fetchone()[0] == 2
