"""The audit chain: one event per mutation, and tampering with the file is caught by `audit.verify`
(the `cublab audit verify` command in a subprocess: e2e/test_audit_cli.py)."""

from __future__ import annotations

import itertools
import json

import pytest
import sqlalchemy as sa

from cublab.store import audit
from support.audit import events, populated, tamper
from support.mcp import call
from support.runtime import AGENT

pytestmark = pytest.mark.anyio


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
    variant = await mutate(
        "variant_log", "variant.log", "variant", experiment_id=exp_id, name="a", configuration=json.dumps({"x": 1})
    )
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
    await call(client, "variant_log", experiment_id=exp["id"], name="a", configuration=json.dumps({"x": 1}))
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


@pytest.mark.parametrize("column", ["actor", "action", "object_id", "at", "details", "related", "prev_hash"])
async def test_editing_any_field_is_detected(client, runtime, sqlite_url, column) -> None:
    await populated(client, n=4)
    value = {"details": '{"x": 1}', "related": '{"y": 2}'}.get(column, "forged")
    tamper(sqlite_url, f"UPDATE audit_event SET {column} = '{value}' WHERE seq = 2")
    with runtime.ctx.db.engine.connect() as conn:
        problems = audit.verify(conn).problems
    assert problems and {p.seq for p in problems} == {2}


async def test_verify_on_postgres(any_client, any_runtime) -> None:
    await populated(any_client, n=4)
    with any_runtime.ctx.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET actor = 'human:mallory' WHERE seq = 2"))
    with any_runtime.ctx.db.engine.connect() as conn:
        result = audit.verify(conn)
    assert not result.ok and [p.seq for p in result.problems] == [2]
