"""Many writers on one experiment: the set-up, one writer's batches, and the check that every point is stored
that the running summaries the writers merged concurrently equal a recomputation from the points, and that the
batches' running totals per principal (the points_per_hour quota's) are exact."""

from __future__ import annotations

import json

import sqlalchemy as sa
from mcp import Client

from cublab.store import audit
from support.mcp import call

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
        await call(client, "variant_log", experiment_id=exp["id"], name=f"v{k}", configuration=json.dumps({"k": k}))
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
    points = "FROM measurement p JOIN result_batch b ON b.id = p.batch_id WHERE b.experiment_id = :e"
    with rt.ctx.db.engine.connect() as conn:
        n = conn.execute(sa.text(f"SELECT count(*) {points}"), {"e": experiment_id}).scalar()
        distinct = conn.execute(sa.text(f"SELECT count(DISTINCT p.value) {points}"), {"e": experiment_id}).scalar()
        batches = conn.execute(
            sa.text("SELECT count(*) FROM result_batch WHERE experiment_id = :e"), {"e": experiment_id}
        ).scalar()
        verification = audit.verify(conn)
        totals = conn.execute(
            sa.text(
                "SELECT principal, point_count, principal_total FROM result_batch ORDER BY created_at, principal_total"
            )
        ).all()
    assert n == distinct == writers * BATCHES * POINTS
    assert batches == writers * BATCHES
    assert verification.ok, verification.problems
    assert verification.events == 4 + writers * BATCHES  # spawn, create, two variants, one per batch
    # Every principal's running total (the points_per_hour quota's) has no gap or repeat: SQLite's writer lock and,
    # on PostgreSQL, the quota check's lock per principal (store.db.serialize) keep them exact.
    running: dict[str, int] = {}
    for principal, count, total in totals:
        running[principal] = running.get(principal, 0) + count
        assert total == running[principal], totals
    [summaries] = rt.experiments.verify_summaries(experiment_id)
    assert summaries.differences == [] and summaries.points == n and summaries.series == 2
