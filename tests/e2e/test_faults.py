"""Infrastructure faults, injected for real: the agent learns what happened and whether to retry.

For each fault: the error names it and says retryable true or false (in the text and in the structured
content), nothing is half-written, the audit chain still verifies, and once the fault is removed the same call,
made with an idempotency key, succeeds exactly once (a repeat adds no row). Faults of the machine (a full
disk, a read-only file system, kill -9 of the server) are in test_fault_injection.py. SQLite: a read-only database (`PRAGMA query_only`) and a full one (`PRAGMA max_page_count`).
PostgreSQL: a session set read-only, and a connection terminated in the middle of a transaction.
"""

from __future__ import annotations

import json
import os

import pytest
from mcp import Client

from cublab.mcp_server import build_server
from support import faults
from support.mcp import call
from support.runtime import POSTGRES_ENV

pytestmark = pytest.mark.anyio

SPAWN = {"name": "s", "purpose": "survive a fault", "ttl": "2h"}


async def _faulted(client: Client, tool: str, arguments: dict) -> tuple[str, dict]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} succeeded under the fault"
    text = result.content[0].text
    assert "Traceback" not in text
    assert result.structured_content is not None, text
    return text, result.structured_content["error"]


async def _check(rt, client, tool, arguments, inject, kind: str, retryable: bool) -> None:
    arguments = {**arguments, "idempotency_key": f"{tool}-after-{kind}"}
    before = faults.row_counts(rt)
    with inject:
        text, error = await _faulted(client, tool, arguments)
    assert error["fault"] == kind and error["retryable"] is retryable and error["written"] is False, error
    assert kind in text and f"retryable: {'true' if retryable else 'false'}" in text and "Nothing was written" in text
    assert faults.row_counts(rt) == before, "a faulted call wrote something"
    assert rt.audit.verify().ok
    await _succeeds_once(rt, client, tool, arguments, before)


async def _succeeds_once(rt, client, tool: str, arguments: dict, before: dict[str, int]) -> None:
    """The fault removed, the same call succeeds, carried out once: one audit event; a repeat adds nothing."""
    answer = await call(client, tool, **arguments)
    after = faults.row_counts(rt)
    assert after["audit_event"] == before["audit_event"] + 1
    assert await call(client, tool, **arguments) == answer
    assert faults.row_counts(rt) == after, "a repeat with the same key wrote something"
    assert rt.audit.verify().ok


async def test_sqlite_read_only_database(client, runtime) -> None:
    await call(client, "sandbox_list")  # the database exists and is migrated before the fault
    await _check(runtime, client, "sandbox_spawn", SPAWN, faults.sqlite_read_only(runtime), "database_read_only", False)


async def test_sqlite_full_database(client, runtime) -> None:
    sandbox = await call(client, "sandbox_spawn", **SPAWN)
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    big = {
        "experiment_id": exp["id"],
        "name": "big",
        "configuration": json.dumps({f"k{n}": "x" * 200 for n in range(1000)}),
    }
    await _check(runtime, client, "variant_log", big, faults.sqlite_full(runtime), "database_full", False)


@pytest.fixture
def pg_runtime(db_url, clock):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    from support.runtime import make_runtime

    rt = make_runtime(db_url, clock)
    yield rt
    rt.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgres_session_read_only(pg_runtime) -> None:
    async with Client(build_server(pg_runtime)) as client:
        await call(client, "sandbox_list")
        await _check(
            pg_runtime,
            client,
            "sandbox_spawn",
            SPAWN,
            faults.postgres_read_only(pg_runtime),
            "database_read_only",
            False,
        )


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgres_connection_killed_mid_transaction(pg_runtime) -> None:
    async with Client(build_server(pg_runtime)) as client:
        await call(client, "sandbox_list")
        injected = faults.postgres_killed_mid_transaction(pg_runtime, os.environ[POSTGRES_ENV])
        keyed = {**SPAWN, "idempotency_key": "spawn-after-failover"}
        with injected as killed:
            before = faults.row_counts(pg_runtime)
            text, error = await _faulted(client, "sandbox_spawn", keyed)
        assert killed, "the fault was not injected"
        assert error["fault"] == "database_unavailable" and error["retryable"] is True, error
        assert "retryable: true" in text
        assert faults.row_counts(pg_runtime) == before
        assert pg_runtime.audit.verify().ok
        await _succeeds_once(pg_runtime, client, "sandbox_spawn", keyed, before)


async def test_sqlite_locked_past_the_busy_timeout(client, runtime, sqlite_url) -> None:
    """Another process holds the write lock longer than the busy timeout (shortened here to 50 ms)."""
    import sqlite3

    await call(client, "sandbox_list")
    holder = sqlite3.connect(sqlite_url, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        await _check_locked(runtime, client)
    finally:
        holder.close()
    await call(client, "sandbox_spawn", **SPAWN)
    assert runtime.audit.verify().ok


async def _check_locked(rt, client) -> None:
    before = faults.row_counts(rt)
    with faults.on_every_connection(rt, lambda _c: ["PRAGMA busy_timeout=50"]):
        text, error = await _faulted(client, "sandbox_spawn", SPAWN)
    assert error["fault"] == "database_locked" and error["retryable"] is True, error
    assert "retryable: true" in text
    assert faults.row_counts(rt) == before
