"""The audit chain: one event per mutation, and tampering with the file is caught by `cublab audit verify`."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa

from cublab.store import audit
from support.mcp import call
from support.runtime import AGENT

pytestmark = pytest.mark.anyio


def events(rt) -> list[dict]:
    with rt.ctx.db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM audit_event ORDER BY seq")).mappings()]


async def test_every_mutation_writes_exactly_one_event_with_actor_and_explanation(any_client, any_runtime) -> None:
    seen = 0

    async def mutate(tool: str, action: str, object_type: str, **args) -> dict:
        nonlocal seen
        why = f"because of {tool}"
        result = await call(any_client, tool, explanation=why, **args)
        log = events(any_runtime)
        assert len(log) == seen + 1, f"{tool} wrote {len(log) - seen} events"
        seen += 1
        event = log[-1]
        assert (event["actor"], event["action"], event["object_type"], event["explanation"]) == (
            AGENT,
            action,
            object_type,
            why,
        )
        return {"result": result, "event": event}

    spawn = await mutate("sandbox_spawn", "sandbox.spawn", "sandbox", name="s", purpose="p", ttl="2h")
    sandbox_id = spawn["result"]["id"]
    assert spawn["event"]["object_id"] == sandbox_id
    exp = await mutate(
        "experiment_create",
        "experiment.create",
        "experiment",
        sandbox_id=sandbox_id,
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="maximize",
    )
    exp_id = exp["result"]["id"]
    assert exp["event"]["object_id"] == exp_id
    related = exp["event"]["related"]
    assert (json.loads(related) if isinstance(related, str) else related) == {"sandbox_id": sandbox_id}
    variant = await mutate("variant_log", "variant.log", "variant", experiment_id=exp_id, name="a", config={"x": 1})
    assert variant["event"]["object_id"] == variant["result"]["variant"]["id"]
    results = await mutate(
        "result_log",
        "result.log",
        "result_batch",
        experiment_id=exp_id,
        points=[{"variant": "a", "metric": "m", "value": 1.0}] * 3,
    )
    assert results["event"]["object_id"] == str(results["result"]["batch_id"])
    details = results["event"]["details"]
    assert (json.loads(details) if isinstance(details, str) else details)["digest"] == results["result"]["digest"]
    await mutate("sandbox_renew", "sandbox.renew", "sandbox", sandbox_id=sandbox_id, ttl="1h")
    await mutate("sandbox_destroy", "sandbox.destroy", "sandbox", sandbox_id=sandbox_id)

    # Reads and no-op writes write nothing.
    for tool, args in (
        ("sandbox_get", {"sandbox_id": sandbox_id}),
        ("sandbox_list", {}),
        ("experiment_get", {"experiment_id": exp_id}),
        ("experiment_list", {}),
        ("experiment_compare", {"experiment_id": exp_id}),
    ):
        await call(any_client, tool, **args)
    await call(any_client, "sandbox_destroy", sandbox_id=sandbox_id)
    assert len(events(any_runtime)) == seen

    log = events(any_runtime)
    assert [e["seq"] for e in log] == list(range(1, seen + 1))
    assert log[0]["prev_hash"] == audit.GENESIS
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(log))
    with any_runtime.ctx.db.engine.connect() as conn:
        result = audit.verify(conn)
    assert result.ok and result.events == seen


async def test_a_failed_mutation_leaves_no_event(client, runtime) -> None:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    await call(client, "variant_log", experiment_id=exp["id"], name="a", config={"x": 1})
    before = events(runtime)
    bad = await client.call_tool(
        "result_log",
        {
            "experiment_id": exp["id"],
            "points": [{"variant": "a", "metric": "m", "value": 1.0}, {"variant": "zz", "metric": "m", "value": 1.0}],
        },
    )
    assert bad.is_error
    assert events(runtime) == before


# ---- tampering with the file ---------------------------------------------------------------


async def populated(client, n: int = 8) -> None:
    """A few events to tamper with: 1 spawn + 1 experiment + variants + results."""
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    for k in range(n - 2):
        await call(
            client, "variant_log", experiment_id=exp["id"], name=f"v{k}", config={"k": k}, explanation=f"try {k}"
        )


def verify_cli(db: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cublab", "audit", "verify", "--db", db], capture_output=True, text=True, timeout=60
    )


def tamper(db: str, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            assert conn.execute(statement).rowcount >= 1, statement


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


@pytest.mark.parametrize("column", ["actor", "action", "object_id", "at", "details", "related", "prev_hash"])
async def test_editing_any_field_is_detected(client, runtime, sqlite_url, column) -> None:
    await populated(client, n=4)
    value = {"details": '{"x": 1}', "related": '{"y": 2}'}.get(column, "forged")
    tamper(sqlite_url, f"UPDATE audit_event SET {column} = '{value}' WHERE seq = 2")
    with runtime.ctx.db.engine.connect() as conn:
        problems = audit.verify(conn).problems
    assert problems and {p.seq for p in problems} == {2}


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


async def test_verify_on_postgres(any_client, any_runtime) -> None:
    await populated(any_client, n=4)
    with any_runtime.ctx.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET actor = 'human:mallory' WHERE seq = 2"))
    with any_runtime.ctx.db.engine.connect() as conn:
        result = audit.verify(conn)
    assert not result.ok and [p.seq for p in result.problems] == [2]
