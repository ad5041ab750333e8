"""Faults of the machine, injected for real, and retries with an idempotency key that land exactly once.

A full disk (a small tmpfs filled to the last byte), a database file on a file system mounted read-only (a
read-only bind mount of it), and `kill -9` of a `cublab serve` subprocess in the middle of `result_log`, both
before its transaction commits and after the commit but before the answer is sent (the server is held there by
a witness file that is a FIFO nobody reads, which blocks the after-commit checkpoint). For each: the agent's
error names the fault and says whether to retry, nothing is half-written, the audit chain verifies, and once
the fault is gone the same call, with the same key, is carried out exactly once (rows counted).

The database-level faults (SQLite's query_only and max_page_count, PostgreSQL's read-only session and a
connection terminated mid-transaction) are in test_faults.py. Mounting needs root with CAP_SYS_ADMIN; where it
is not permitted those tests are skipped, visibly.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cublab.mcp_server import build_server
from support import faults
from support.mcp import call
from support.runtime import AGENT, make_runtime
from support.serve import child_env, cublab_command

pytestmark = pytest.mark.anyio

ANSWER_TIMEOUT = 30.0


def _points(n: int) -> list[dict[str, Any]]:
    return [{"variant": "v", "metric": "m", "value": float(k % 97), "repetition": k} for k in range(n)]


async def _experiment(client) -> str:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="survive a fault", ttl="2h")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    await call(client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"a": 1}))
    return exp["id"]


async def _faulted(client: Client, tool: str, arguments: dict) -> tuple[str, dict]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} succeeded under the fault"
    text = result.content[0].text
    assert "Traceback" not in text and result.structured_content is not None, text
    return text, result.structured_content["error"]


async def _exactly_once(rt, client, tool: str, arguments: dict, before: dict[str, int]) -> dict:
    """The fault removed: the call succeeds, adds one audit event, and a repeat with its key adds nothing."""
    answer = await call(client, tool, **arguments)
    after = faults.row_counts(rt)
    assert after["audit_event"] == before["audit_event"] + 1, "the retried call was carried out once"
    assert await call(client, tool, **arguments) == answer
    assert faults.row_counts(rt) == after, "a repeat with the same key wrote something"
    assert rt.audit.verify().ok
    return answer


async def test_a_full_disk(tmp_path: Path, sqlite_url: str, clock) -> None:
    with faults.tmpfs(tmp_path / "disk", size="4m") as disk:
        db = disk / "cublab.db"
        shutil.copyfile(sqlite_url, db)
        rt = make_runtime(str(db), clock)
        try:
            async with Client(build_server(rt)) as client:
                experiment_id = await _experiment(client)
                logged = {"experiment_id": experiment_id, "points": _points(5000), "idempotency_key": "batch-1"}
                before = faults.row_counts(rt)
                filler = faults.fill(disk)
                text, error = await _faulted(client, "result_log", logged)
                assert error["fault"] == "database_full" and error["written"] is False, error
                assert "database_full" in text and "retryable: false" in text and "Nothing was written" in text
                filler.unlink()
                assert faults.row_counts(rt) == before, "a faulted call wrote something"
                assert rt.audit.verify().ok
                answer = await _exactly_once(rt, client, "result_log", logged, before)
                assert answer["points"] == 5000
                assert faults.row_counts(rt)["measurement"] == before["measurement"] + 5000
        finally:
            rt.close()


def _holder(db: Path) -> subprocess.Popen[bytes]:
    """Another process with the database open read-write (its -wal and -shm stay), until its stdin closes.
    Not this process: SQLite keeps every descriptor of a file open while the process holds a lock on it."""
    script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM result_batch').fetchall(); print(flush=True); sys.stdin.read()"
    proc = subprocess.Popen([sys.executable, "-c", script, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"\n"
    return proc


async def test_a_database_file_on_a_read_only_file_system(tmp_path: Path, sqlite_url: str, clock) -> None:
    """The file is seen through a bind mount remounted read-only (root ignores file permissions), while another
    process keeps it open read-write, as a replica with a read-only volume would: SQLite says SQLITE_READONLY."""
    with faults.tmpfs(tmp_path / "disk", size="16m") as disk:
        shutil.copyfile(sqlite_url, disk / "cublab.db")
        with faults.read_only_view(disk, tmp_path / "view") as read_only:
            rt = make_runtime(str(tmp_path / "view" / "cublab.db"), clock)
            holder = _holder(disk / "cublab.db")
            try:
                async with Client(build_server(rt)) as client:
                    experiment_id = await _experiment(client)
                    logged = {"experiment_id": experiment_id, "points": _points(100), "idempotency_key": "batch-1"}
                    before = faults.row_counts(rt)
                    rt.ctx.db.engine.dispose()  # pooled connections hold files open: the remount needs them gone
                    read_only(True)
                    text, error = await _faulted(client, "result_log", logged)
                    assert error["fault"] == "database_read_only" and error["retryable"] is False, error
                    assert "retryable: false" in text and "Nothing was written" in text
                    rt.ctx.db.engine.dispose()
                    read_only(False)
                    assert faults.row_counts(rt) == before
                    assert rt.audit.verify().ok
                    await _exactly_once(rt, client, "result_log", logged, before)
            finally:
                holder.communicate(b"")
                rt.close()


class StdioServer:
    """`cublab serve` over stdio, spoken to line by line, so the test decides when it dies."""

    def __init__(self, db: Path, log: Path, **env: str) -> None:
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [*cublab_command(), "serve", "--db", str(db), "--agent", AGENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env={**child_env(), **env},
        )
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            }
        )
        assert self.answer(0, ANSWER_TIMEOUT) is not None, "no answer to initialize"
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def call(self, request_id: int, tool: str, arguments: dict[str, Any]) -> None:
        self.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        )

    def answer(self, request_id: int, timeout: float) -> dict[str, Any] | None:
        """The answer to `request_id`, or None if none came within `timeout` seconds."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                return None
            line = self.proc.stdout.readline()
            if not line:
                return None
            message = json.loads(line)
            if message.get("id") == request_id:
                return message
        return None

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no handler runs, nothing is flushed
        self.proc.wait()
        self.log.close()


def _batches(db: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, point_count FROM result_batch ORDER BY id").fetchall()


async def _setup(db: Path, clock) -> tuple[Any, str]:
    rt = make_runtime(str(db), clock)
    async with Client(build_server(rt)) as client:
        experiment_id = await _experiment(client)
    return rt, experiment_id


def _retry(db: Path, tmp_path: Path, arguments: dict[str, Any]) -> dict[str, Any]:
    server = StdioServer(db, tmp_path / "retry.log")
    try:
        server.call(7, "result_log", arguments)
        answer = server.answer(7, ANSWER_TIMEOUT)
    finally:
        server.kill9()
    assert answer is not None and "result" in answer, answer
    result = answer["result"]
    assert not result.get("isError"), result
    return result["structuredContent"]


async def test_kill_9_after_the_commit_before_the_answer_then_a_retry_returns_the_first_answer(
    tmp_path: Path, sqlite_url: str, clock
) -> None:
    db = Path(sqlite_url)
    rt, experiment_id = await _setup(db, clock)
    try:
        audit_before = faults.row_counts(rt)["audit_event"]
        fifo = tmp_path / "witness.fifo"
        os.mkfifo(fifo)
        server = StdioServer(db, tmp_path / "killed.log", CUBLAB_AUDIT_WITNESS=str(fifo))
        arguments = {"experiment_id": experiment_id, "points": _points(2000), "idempotency_key": "delivery-42"}
        server.call(1, "result_log", arguments)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not _batches(db):
            assert time.monotonic() < deadline, "the batch was never committed"
            time.sleep(0.01)
        assert server.answer(1, 0.5) is None, "the server answered: the crash window was not reached"
        server.kill9()
        ((batch_id, points),) = _batches(db)
        assert points == 2000

        answer = _retry(db, tmp_path, arguments)
        assert answer["batch_id"] == batch_id and answer["points"] == 2000
        assert _batches(db) == [(batch_id, 2000)], "the retry logged the batch again"
        counts = faults.row_counts(rt)
        assert counts["measurement"] == 2000 and counts["audit_event"] == audit_before + 1
        assert rt.audit.verify().ok
    finally:
        rt.close()


async def test_kill_9_before_the_commit_then_a_retry_logs_the_batch_once(
    tmp_path: Path, sqlite_url: str, clock
) -> None:
    db = Path(sqlite_url)
    rt, experiment_id = await _setup(db, clock)
    try:
        audit_before = faults.row_counts(rt)["audit_event"]
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the server's write waits on the lock: killed before it commits
        server = StdioServer(db, tmp_path / "killed.log")
        arguments = {"experiment_id": experiment_id, "points": _points(2000), "idempotency_key": "delivery-43"}
        server.call(1, "result_log", arguments)
        assert server.answer(1, 0.5) is None
        server.kill9()
        holder.execute("ROLLBACK")
        holder.close()
        assert _batches(db) == []

        answer = _retry(db, tmp_path, arguments)
        assert _batches(db) == [(answer["batch_id"], 2000)]
        async with Client(build_server(rt)) as client:
            assert await call(client, "result_log", **arguments) == answer, "a second retry returns the first answer"
        assert _batches(db) == [(answer["batch_id"], 2000)]
        counts = faults.row_counts(rt)
        assert counts["measurement"] == 2000 and counts["audit_event"] == audit_before + 1
        assert rt.audit.verify().ok
    finally:
        rt.close()
