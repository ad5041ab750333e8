"""Many writers at once: no error, no "database is locked", every point stored, the chain intact."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import anyio
import pytest
import sqlalchemy as sa
from mcp import Client

from cublab.mcp_server import build_server
from cublab.store import audit
from support.mcp import call
from support.runtime import make_runtime

pytestmark = pytest.mark.anyio

CLIENTS = 20
BATCHES = 2
POINTS = 50


async def setup_experiment(client) -> str:
    sandbox = await call(client, "sandbox_spawn", name="load", purpose="concurrency")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    for k in range(2):
        await call(client, "variant_log", experiment_id=exp["id"], name=f"v{k}", config={"k": k})
    return exp["id"]


async def hammer(client: Client, experiment_id: str, who: int, errors: list[str]) -> None:
    for batch in range(BATCHES):
        points = [
            {"variant": f"v{k % 2}", "metric": "m", "value": float(who * 1000 + batch * 100 + k)} for k in range(POINTS)
        ]
        result = await client.call_tool("result_log", {"experiment_id": experiment_id, "points": points})
        if result.is_error:
            errors.append(result.content[0].text)
        else:
            assert result.structured_content["points"] == POINTS


def check(rt, experiment_id: str, writers: int) -> None:
    with rt.ctx.db.engine.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM measurement WHERE experiment_id = :e"), {"e": experiment_id}
        ).scalar()
        distinct = conn.execute(
            sa.text("SELECT count(DISTINCT value) FROM measurement WHERE experiment_id = :e"), {"e": experiment_id}
        ).scalar()
        batches = conn.execute(
            sa.text("SELECT count(*) FROM result_batch WHERE experiment_id = :e"), {"e": experiment_id}
        ).scalar()
        verification = audit.verify(conn)
    assert n == distinct == writers * BATCHES * POINTS
    assert batches == writers * BATCHES
    assert verification.ok, verification.problems
    assert verification.events == 4 + writers * BATCHES  # spawn, create, two variants, one per batch


async def test_twenty_clients_on_one_server(any_runtime) -> None:
    server = build_server(any_runtime)
    async with Client(server) as first:
        experiment_id = await setup_experiment(first)
    errors: list[str] = []

    async def one(who: int) -> None:
        async with Client(server) as client:
            await hammer(client, experiment_id, who, errors)

    async with anyio.create_task_group() as tg:
        for who in range(CLIENTS):
            tg.start_soon(one, who)
    assert errors == []
    check(any_runtime, experiment_id, CLIENTS)


async def test_twenty_runtimes_on_one_sqlite_file(sqlite_url, clock) -> None:
    """Separate Runtimes model separate processes: separate engines, no shared in-process lock."""
    runtimes = [make_runtime(sqlite_url, clock) for _ in range(CLIENTS)]
    try:
        async with Client(build_server(runtimes[0])) as first:
            experiment_id = await setup_experiment(first)
        errors: list[str] = []

        async def one(who: int) -> None:
            async with Client(build_server(runtimes[who])) as client:
                await hammer(client, experiment_id, who, errors)

        async with anyio.create_task_group() as tg:
            for who in range(CLIENTS):
                tg.start_soon(one, who)
        assert not [e for e in errors if "locked" in e.lower()]
        assert errors == []
        check(runtimes[0], experiment_id, CLIENTS)
    finally:
        for rt in runtimes:
            rt.close()


WRITER = textwrap.dedent("""
    import sys
    from cublab.app.inputs import LogResults
    from cublab.config import Settings
    from cublab.runtime import Runtime

    db, experiment_id, who = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rt = Runtime(Settings(db=db, agent=f"agent:proc-{{who}}", policy_path=None))
    for batch in range({batches}):
        points = [dict(variant=f"v{{k % 2}}", metric="m", value=float(who * 1000 + batch * 100 + k)) for k in range({points})]
        rt.ledger.log_results(LogResults(experiment_id=experiment_id, points=points), rt.agent)
    rt.close()
""").format(batches=BATCHES, points=POINTS)


async def test_four_processes_on_one_sqlite_file(sqlite_url, clock) -> None:
    rt = make_runtime(sqlite_url)  # the real clock: the subprocesses read it too
    try:
        async with Client(build_server(rt)) as first:
            experiment_id = await setup_experiment(first)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, sqlite_url, experiment_id, str(who)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for who in range(4)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outputs, strict=False):
            assert p.returncode == 0, err
            assert "locked" not in err.lower()
        check(rt, experiment_id, 4)
        with rt.ctx.db.engine.connect() as conn:
            actors = set(conn.execute(sa.text("SELECT DISTINCT created_by FROM result_batch")).scalars())
        assert actors == {f"agent:proc-{who}" for who in range(4)}
    finally:
        rt.close()
