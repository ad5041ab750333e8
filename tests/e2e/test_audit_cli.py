"""Tampering with the file is caught by the real `cublab audit verify` (a subprocess): exit code and message."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from cublab.store import audit
from support.audit import events, populated, tamper

pytestmark = pytest.mark.anyio


def verify_cli(db: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cublab", "audit", "verify", "--db", db], capture_output=True, text=True, timeout=60
    )


async def test_verify_passes_on_an_intact_log(client, sqlite_url) -> None:
    await populated(client)
    result = verify_cli(sqlite_url)
    assert result.returncode == 0, result.stderr
    assert "OK: 8 events" in result.stdout


async def test_verify_names_an_edited_and_a_deleted_event(client, sqlite_url) -> None:
    await populated(client)
    tamper(
        sqlite_url,
        "UPDATE audit_event SET explanation = 'nothing to see' WHERE seq = 3",
        "DELETE FROM audit_event WHERE seq = 6",
    )
    result = verify_cli(sqlite_url)
    assert result.returncode != 0
    assert "event 3: contents do not match its hash" in result.stderr
    assert "event 6: missing" in result.stderr
    assert (
        "event 7" not in result.stderr and "event 2" not in result.stderr
    )  # names the tampered events, not their neighbours


async def test_deleting_the_newest_event_is_detected(client, sqlite_url) -> None:
    await populated(client)
    tamper(sqlite_url, "DELETE FROM audit_event WHERE seq = 8")
    result = verify_cli(sqlite_url)
    assert result.returncode != 0
    assert "event 8: the chain head names event 8 but the log ends at event 7" in result.stderr


async def test_rewriting_an_event_and_its_hash_is_caught_by_the_next_link(client, runtime, sqlite_url) -> None:
    await populated(client)
    row = events(runtime)[3]  # seq 4
    row["explanation"] = "rewritten history"
    forged = audit.event_hash(
        {k: (json.loads(v) if k in ("related", "details") and isinstance(v, str) else v) for k, v in row.items()}
    )
    with sqlite3.connect(sqlite_url) as conn:
        conn.execute("UPDATE audit_event SET explanation = ?, hash = ? WHERE seq = 4", ("rewritten history", forged))
    with runtime.ctx.db.engine.connect() as conn:
        problems = audit.verify(conn).problems
    assert [str(p) for p in problems] == [
        "event 5: prev_hash does not match the event before it: the previous event was rewritten"
    ]
    result = verify_cli(sqlite_url)
    assert result.returncode != 0 and "event 5: prev_hash does not match" in result.stderr
