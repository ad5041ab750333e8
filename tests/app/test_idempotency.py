"""Idempotency keys on every mutating tool, through a real MCP client, on SQLite and PostgreSQL.

A repeat with the same key and arguments returns the first answer and writes nothing (no row, no audit
event); the same key with other arguments is refused naming `idempotency_key`; a failed call keeps no key;
keys are scoped per principal and tool, concurrent repeats write once, and keys are pruned after the
longest sandbox lifetime.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from cublab.app.inputs import LogResults, Point
from cublab.app.outputs import ResultsLogged
from cublab.domain.identity import agent_identity, human_identity
from cublab.mcp_server import TOOLS
from support.mcp import call, call_error

pytestmark = pytest.mark.anyio

ALICE = human_identity("human:alice")
BASE = {"lambdaMemory": 512, "region": "eu-west-1"}
MUTATING = sorted(spec.name for spec in TOOLS if not spec.read_only)


def counts(rt) -> dict[str, int]:
    """Rows of every table but the idempotency records themselves: a repeat must leave them all alone."""
    tables = (
        "audit_event",
        "sandbox",
        "experiment",
        "variant",
        "result_batch",
        "measurement",
        "proposal",
        "incident",
        "obligation",
        "ch_revision",
    )
    with rt.ctx.db.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def records(rt) -> list[dict[str, Any]]:
    with rt.ctx.db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM idempotency_record")).mappings()]


async def _sandbox(client) -> dict:
    return await call(client, "sandbox_spawn", name="s", purpose="p", ttl="2h")


async def _experiment(client) -> dict:
    sandbox = await _sandbox(client)
    return await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="p95",
        direction="minimize",
        target_space="mw-staging",
        target_unit="handler",
    )


async def _finished(client) -> dict:
    exp = await _experiment(client)
    for n, memory in enumerate((1024, 2048)):
        await call(
            client,
            "variant_log",
            experiment_id=exp["id"],
            name=f"v{n}",
            configuration=json.dumps({**BASE, "lambdaMemory": memory}),
        )
    points = [{"variant": f"v{n}", "metric": "p95", "value": 200.0 - 80 * n + k % 5} for n in (0, 1) for k in range(10)]
    await call(client, "result_log", experiment_id=exp["id"], points=points)
    return exp


async def arguments_for(client, tool: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Arguments for a first call of `tool`, and different arguments for a second call with the same key."""
    if tool == "sandbox_spawn":
        return {"name": "s", "purpose": "p"}, {"name": "other", "purpose": "p"}
    if tool == "sandbox_renew":
        sid = (await _sandbox(client))["id"]
        return {"sandbox_id": sid, "ttl": "3h"}, {"sandbox_id": sid, "ttl": "4h"}
    if tool == "sandbox_destroy":
        sid = (await _sandbox(client))["id"]
        return {"sandbox_id": sid}, {"sandbox_id": sid, "explanation": "another reason"}
    if tool == "experiment_create":
        sid = (await _sandbox(client))["id"]
        first = {"sandbox_id": sid, "name": "e", "hypothesis": "h", "objective_metric": "m", "direction": "minimize"}
        return first, {**first, "direction": "maximize"}
    if tool == "variant_log":
        eid = (await _experiment(client))["id"]
        return {"experiment_id": eid, "name": "v", "configuration": json.dumps({"a": 1})}, {
            "experiment_id": eid,
            "name": "v",
            "configuration": json.dumps({"a": 2}),
        }
    if tool == "result_log":
        eid = (await _experiment(client))["id"]
        await call(client, "variant_log", experiment_id=eid, name="v", configuration=json.dumps({"a": 1}))
        point = {"variant": "v", "metric": "p95", "value": 1.5}
        return {"experiment_id": eid, "points": [point]}, {"experiment_id": eid, "points": [{**point, "value": 2.5}]}
    if tool == "variant_promote":
        exp = await _finished(client)
        winner = (await call(client, "experiment_compare", experiment_id=exp["id"]))["winner"]
        first = {"variant_id": winner, "rationale": "faster", "confidence": 0.8}
        return first, {**first, "confidence": 0.9}
    if tool == "breakglass_declare":
        first = {"incident_id": "INC-1", "reason": "outage", "units": ["mw-staging/handler"]}
        return first, {**first, "reason": "another outage"}
    if tool == "breakglass_capture":
        await call(client, "breakglass_declare", incident_id="INC-1", reason="outage", units=["mw-staging/handler"])
        first = {
            "incident_id": "INC-1",
            "unit": "mw-staging/handler",
            "live_state": json.dumps({**BASE, "lambdaMemory": 4096}),
        }
        return first, {**first, "live_state": json.dumps({**BASE, "lambdaMemory": 8192})}
    raise AssertionError(f"no arguments for {tool}: add them here")


@pytest.fixture
def seeded(any_runtime):
    any_runtime.review.import_unit("mw-staging", "handler", BASE, ALICE, tier="staging")
    return any_runtime


def test_every_mutating_tool_takes_a_key_and_no_read_only_one_does() -> None:
    for spec in TOOLS:
        fields = spec.input.model_fields
        assert ("idempotency_key" in fields) == (not spec.read_only), spec.name
    assert len(MUTATING) == 9


@pytest.mark.parametrize("tool", MUTATING)
async def test_a_repeat_returns_the_first_answer_and_writes_nothing(any_client, seeded, tool) -> None:
    first_args, other_args = await arguments_for(any_client, tool)
    before = counts(seeded)
    first = await call(any_client, tool, **first_args, idempotency_key="k-1")
    after_first = counts(seeded)
    assert after_first["audit_event"] > before["audit_event"], "the first call is carried out and audited"

    again = await call(any_client, tool, **first_args, idempotency_key="k-1")
    assert again == first
    assert counts(seeded) == after_first, "a repeat writes no row and no audit event"

    refused = await call_error(any_client, tool, **other_args, idempotency_key="k-1")
    assert "idempotency_key" in refused and "different arguments" in refused
    assert counts(seeded) == after_first
    assert [r["tool"] for r in records(seeded)] == [tool]


async def test_the_key_is_stored_only_as_a_digest(client, runtime) -> None:
    key = "0f8fad5b-d9cb-469f-a165-70867728950e"
    await call(client, "sandbox_spawn", name="s", purpose="p", idempotency_key=key)
    (row,) = records(runtime)
    assert key not in repr(row) and row["key_digest"].startswith("sha256:")
    assert row["principal"] == "agent:pytest" and row["tool"] == "sandbox_spawn"


async def test_a_failed_call_keeps_no_key(client, runtime) -> None:
    exp = await _experiment(client)
    await call(client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"a": 1}))
    bad = [{"variant": "nope", "metric": "p95", "value": 1.0}]
    assert "points[0].variant" in await call_error(
        client, "result_log", experiment_id=exp["id"], points=bad, idempotency_key="k"
    )
    assert records(runtime) == []
    good = [{"variant": "v", "metric": "p95", "value": 1.0}]
    logged = await call(client, "result_log", experiment_id=exp["id"], points=good, idempotency_key="k")
    assert logged["points"] == 1


async def test_keys_are_scoped_per_tool_and_per_principal(client, runtime) -> None:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", idempotency_key="same")
    renewed = await call(client, "sandbox_renew", sandbox_id=sandbox["id"], idempotency_key="same")
    assert renewed["id"] == sandbox["id"], "another tool with the same key is another call"

    exp = await _experiment(client)
    await call(client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"a": 1}))
    command = LogResults(
        experiment_id=exp["id"], points=[Point(variant="v", metric="m", value=1.0)], idempotency_key="shared"
    )

    def log(agent: str) -> ResultsLogged:
        who = agent_identity(agent)
        return runtime.idempotency.run(
            "result_log", command, who, ResultsLogged, lambda: runtime.experiments.log_results(command, who)
        )

    first = log("agent:pytest-session1")
    assert log("agent:pytest-session2") == first, "a later session of the same agent (one principal) is a repeat"
    with pytest.raises(Exception, match="belongs to agent:pytest"):
        log("agent:other-session1")  # another principal's call is its own (and here refused by ownership)


def test_concurrent_repeats_write_once(any_runtime) -> None:
    rt = any_runtime
    who = agent_identity("agent:pytest-session1")
    from cublab.app.inputs import CreateExperiment, LogVariant, SpawnSandbox

    sandbox = rt.sandboxes.spawn(SpawnSandbox(name="s", purpose="p"), who)
    exp = rt.experiments.create(
        CreateExperiment(sandbox_id=sandbox.id, name="e", hypothesis="h", objective_metric="m", direction="minimize"),
        who,
    )
    rt.experiments.log_variant(LogVariant(experiment_id=exp.id, name="v", configuration=json.dumps({"a": 1})), who)
    command = LogResults(
        experiment_id=exp.id,
        points=[Point(variant="v", metric="m", value=float(k)) for k in range(200)],
        idempotency_key="race",
    )
    answers: list[ResultsLogged] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def log() -> None:
        start.wait()
        try:
            answers.append(
                rt.idempotency.run(
                    "result_log", command, who, ResultsLogged, lambda: rt.experiments.log_results(command, who)
                )
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=log) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({a.batch_id for a in answers}) == 1 and len(answers) == 6
    c = counts(rt)
    assert c["result_batch"] == 1 and c["measurement"] == 200


async def test_keys_are_kept_for_the_longest_sandbox_lifetime_then_pruned(any_client, any_runtime, clock) -> None:
    client, runtime = any_client, any_runtime
    first = await call(client, "sandbox_spawn", name="s", purpose="p", idempotency_key="k")
    clock.advance(hours=71)
    assert runtime.idempotency.prune() == 0
    assert (await call(client, "sandbox_spawn", name="s", purpose="p", idempotency_key="k")) == first
    clock.advance(hours=2)
    assert runtime.idempotency.prune() == 1
    again = await call(client, "sandbox_spawn", name="s", purpose="p", idempotency_key="k")
    assert again["id"] != first["id"], "after the retention the key is forgotten: a new call"


async def test_a_keyed_call_prunes_old_keys(any_client, any_runtime, clock) -> None:
    await call(any_client, "sandbox_spawn", name="s", purpose="p", idempotency_key="old")
    await call(any_client, "sandbox_destroy", sandbox_id=records_answer(any_runtime)["id"], idempotency_key="old")
    clock.advance(hours=73)
    await call(any_client, "sandbox_spawn", name="s", purpose="p", idempotency_key="new")
    assert [r["tool"] for r in records(any_runtime)] == ["sandbox_spawn"]


def records_answer(rt) -> dict[str, Any]:
    (row,) = records(rt)
    answer = row["answer"]
    return json.loads(answer) if isinstance(answer, str) else answer


def test_the_arguments_digest_is_of_the_arguments_as_validated_without_the_key() -> None:
    from cublab.app.idempotency import arguments_digest
    from cublab.app.inputs import LogVariant, SpawnSandbox

    # A configuration is text: the same text is the same call, other text another (even if it parses the same).
    a = LogVariant(experiment_id="exp_1", name="v", configuration='{"a": 1, "b": [1, 2]}')
    b = LogVariant(experiment_id="exp_1", name="v ", configuration='{"a": 1, "b": [1, 2]}')
    c = LogVariant(experiment_id="exp_1", name="v", configuration='{"a": 1, "b": [2, 1]}')
    assert arguments_digest(a) == arguments_digest(b) != arguments_digest(c)
    pairs = [{"key": "x", "value": "1"}, {"key": "y", "value": "2"}]
    keyed = SpawnSandbox(name="s", purpose="p", labels=pairs, idempotency_key="k1")
    other = SpawnSandbox(name="s ", purpose="p", labels=pairs, idempotency_key="k2")
    assert arguments_digest(keyed) == arguments_digest(other), "the key is not an argument; stripped text is the same"


async def test_an_answer_stored_in_another_shape_is_a_named_conflict(client, runtime) -> None:
    await call(client, "sandbox_spawn", name="s", purpose="p", idempotency_key="old-shape")
    with runtime.ctx.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE idempotency_record SET answer = :a"), {"a": '{"id": 1}'})
    message = await call_error(client, "sandbox_spawn", name="s", purpose="p", idempotency_key="old-shape")
    assert "idempotency_key" in message and "earlier version" in message


async def test_a_repeat_is_answered_when_the_database_takes_no_writes(any_client, any_runtime) -> None:
    """The agent lost the answer, then the database went read-only (a remounted disk, a read-only session): its
    retry still gets the first answer, read from the record; a new call with a new key is told the fault."""
    from support.faults import postgres_read_only, row_counts, sqlite_read_only

    first = await call(any_client, "sandbox_spawn", name="s", purpose="p", idempotency_key="k-fault")
    before = row_counts(any_runtime)
    read_only = sqlite_read_only if any_runtime.ctx.db.is_sqlite else postgres_read_only
    with read_only(any_runtime):
        again = await call(any_client, "sandbox_spawn", name="s", purpose="p", idempotency_key="k-fault")
        assert again == first
        result = await any_client.call_tool("sandbox_spawn", {"name": "s2", "purpose": "p", "idempotency_key": "k-new"})
        assert result.is_error and result.structured_content["error"]["written"] is False
    assert row_counts(any_runtime) == before
