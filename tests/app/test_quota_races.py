"""Quotas under concurrency: N calls of one agent at the same moment against a quota with k free slots, each
from its own MCP client and thread (PostgreSQL: its own connection). Exactly k succeed, every other gets the
quota's ToolError, and the refused calls wrote nothing (rows, audit events, the chain intact).

To make the race certain rather than lucky, the check is held open: every call waits at a barrier just before
the quota is counted (so all of them count at once unless the count is serialised) and sleeps after it (so
none commits before the others have counted). Without the serialisation on PostgreSQL all N pass the check."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from mcp import Client
from sqlmodel import Session

from cublab.app import experiments, promotion, quotas, sandboxes
from cublab.domain.identity import human_identity, parse_identity
from cublab.mcp_server import build_server
from cublab.runtime import Runtime
from cublab.store import audit
from support.audit import events as audit_events
from support.mcp import call, finished_experiment
from support.runtime import AGENT, AGENT_PRINCIPAL

pytestmark = pytest.mark.anyio

CALLS = 6
FREE = 2
HOLD = 0.3  # seconds a call holds its check open


def raise_to(runtime: Runtime, name: str, value: int) -> None:
    runtime.quotas.set(parse_identity(AGENT), name, value, human_identity("human:lead"), "test")


def quota_message(message: str, name: str) -> None:
    assert f"quota {name}: {AGENT_PRINCIPAL}" in message, message
    assert f"cublab quotas set --agent {AGENT_PRINCIPAL} --name {name}" in message, message


def hold_checks_open(monkeypatch: pytest.MonkeyPatch) -> None:
    barrier = threading.Barrier(CALLS)
    real = quotas.enforce

    def held(*args: Any, **kwargs: Any) -> None:
        # On SQLite the writer lock lets one call in at a time: the barrier breaks, and the calls go on.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=2)
        real(*args, **kwargs)
        time.sleep(HOLD)

    monkeypatch.setattr(sandboxes, "enforce", held)
    monkeypatch.setattr(experiments, "enforce", held)
    monkeypatch.setattr(promotion, "enforce", held)


def race(runtime: Runtime, tool: str, arguments: Callable[[int], dict[str, Any]]) -> tuple[list[Any], list[str]]:
    """`CALLS` calls of `tool` at once, each through its own MCP client in its own thread."""
    done: list[Any] = []
    refused: list[str] = []
    failures: list[BaseException] = []

    def one(n: int) -> None:
        async def go() -> None:
            async with Client(build_server(runtime)) as client:
                result = await client.call_tool(tool, arguments(n))
                (refused.append(result.content[0].text) if result.is_error else done.append(result.structured_content))

        try:
            anyio.run(go)
        except BaseException as e:  # reported below, in the test's thread
            failures.append(e)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(CALLS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert len(done) + len(refused) == CALLS
    return done, refused


def rows(runtime: Runtime, table: str) -> int:
    with runtime.ctx.db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def chain(runtime: Runtime) -> int:
    with runtime.ctx.db.engine.connect() as conn:
        verification = audit.verify(conn)
    assert verification.ok, verification.problems
    return verification.events


async def experiment(client: Client) -> str:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="3h")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    return exp["id"]


def check(
    runtime: Runtime, name: str, table: str, before: tuple[int, int], done: list, refused: list[str], events: int = 1
) -> None:
    assert len(done) == FREE, f"{len(done)} of {CALLS} calls passed a quota with {FREE} free slots"
    for message in refused:
        quota_message(message, name)
    assert rows(runtime, table) == before[0] + FREE  # the refused calls wrote nothing
    assert chain(runtime) == before[1] + events * FREE, [e["action"] for e in audit_events(runtime)[before[1] :]]


async def test_live_sandboxes(any_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = any_runtime
    raise_to(runtime, "live_sandboxes", FREE)
    before = rows(runtime, "sandbox"), chain(runtime)
    hold_checks_open(monkeypatch)
    done, refused = await anyio.to_thread.run_sync(
        race, runtime, "sandbox_spawn", lambda n: {"name": f"s{n}", "purpose": "p"}
    )
    check(runtime, "live_sandboxes", "sandbox", before, done, refused)
    assert {s["owner"] for s in done} == {AGENT_PRINCIPAL}


async def test_variants_per_experiment(
    any_runtime: Runtime, any_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = any_runtime
    experiment_id = await experiment(any_client)
    await call(
        any_client, "variant_log", experiment_id=experiment_id, name="first", configuration=json.dumps({"k": -1})
    )
    raise_to(runtime, "variants_per_experiment", 1 + FREE)
    before = rows(runtime, "variant"), chain(runtime)
    hold_checks_open(monkeypatch)
    done, refused = await anyio.to_thread.run_sync(
        race,
        runtime,
        "variant_log",
        lambda n: {"experiment_id": experiment_id, "name": f"v{n}", "configuration": json.dumps({"k": n})},
    )
    check(runtime, "variants_per_experiment", "variant", before, done, refused)


async def test_points_per_hour(any_runtime: Runtime, any_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = any_runtime
    experiment_id = await experiment(any_client)
    await call(any_client, "variant_log", experiment_id=experiment_id, name="v", configuration=json.dumps({"k": 1}))
    raise_to(runtime, "points_per_hour", 3 * FREE)  # each call sends 3 points
    before = rows(runtime, "result_batch"), chain(runtime)
    hold_checks_open(monkeypatch)
    points = [{"variant": "v", "metric": "m", "value": float(k)} for k in range(3)]
    done, refused = await anyio.to_thread.run_sync(
        race, runtime, "result_log", lambda n: {"experiment_id": experiment_id, "points": points}
    )
    check(runtime, "points_per_hour", "result_batch", before, done, refused)
    assert rows(runtime, "measurement") == 3 * FREE


async def test_open_proposals(any_runtime: Runtime, any_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = any_runtime
    base = {"lambdaMemory": 512, "region": "eu-west-1"}
    winners = []
    for n in range(CALLS):  # one unit each, so the calls differ only in the quota they share
        runtime.review.import_unit("mw-staging", f"unit-{n}", base, human_identity("human:admin"), tier="staging")
        _, variants = await finished_experiment(any_client, "mw-staging", f"unit-{n}", base)
        winners.append(variants[-1]["id"])
    raise_to(runtime, "open_proposals", FREE)
    before = rows(runtime, "proposal"), chain(runtime)
    hold_checks_open(monkeypatch)
    done, refused = await anyio.to_thread.run_sync(
        race, runtime, "variant_promote", lambda n: {"variant_id": winners[n], "rationale": "wins", "confidence": 0.9}
    )
    check(runtime, "open_proposals", "proposal", before, done, refused, events=2)  # sandbox.destroy, proposal.create


def test_serialize_makes_writers_of_one_key_wait(db_url: str) -> None:
    """`store.db.serialize`: on PostgreSQL a second writer of the same key waits until the first transaction
    ends (here: gives up after lock_timeout), a writer of another key does not; released at commit."""
    if db_url.startswith("sqlite") or "://" not in db_url:
        pytest.skip("SQLite serialises every writer already: serialize() is a no-op there")
    from sqlalchemy.exc import OperationalError

    from cublab.store.db import Database, serialize

    db = Database(db_url)
    try:
        with db.write() as first:
            serialize(first, "quota/live_sandboxes/agent:a")
            with db.engine.connect() as conn, conn.begin(), Session(bind=conn) as second:
                second.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                serialize(second, "quota/live_sandboxes/agent:b")  # another key: no wait
                with pytest.raises(OperationalError, match="lock timeout"):
                    serialize(second, "quota/live_sandboxes/agent:a")
        with db.engine.connect() as conn, conn.begin(), Session(bind=conn) as third:
            third.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
            serialize(third, "quota/live_sandboxes/agent:a")  # the first committed: free again
    finally:
        db.dispose()
