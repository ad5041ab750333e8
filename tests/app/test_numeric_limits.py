"""Finite but huge numbers are refused by the input models, with the same message on SQLite and PostgreSQL.

Before these limits, two points of 1e308 were stored and then every statistic overflowed (an internal error
from variant_promote on SQLite, from experiment_compare on PostgreSQL); a step of 2^63 or a ttl of
'9223372036854775807s' overflowed in the driver or in date arithmetic. Each is now a ToolError naming the field
and the limit, and nothing is written.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from cublab.domain.identity import human_identity
from support.mcp import call, call_error
from support.runtime import migrate

pytestmark = pytest.mark.anyio

HUGE_TTLS = ("99999999999999999999d", "10000000000w", "9223372036854775807s")


def _count(rt, table: str) -> int:
    with rt.ctx.db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


async def _experiment(client) -> tuple[dict, dict]:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="limits", ttl="2h")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
        target_space="space",
        target_unit="unit",
    )
    return sandbox, exp


@pytest.mark.parametrize("value", [1e308, -1e308, 1.0000001e15, -2e15])
async def test_huge_values_are_refused_naming_the_field_and_the_limit(any_client, any_runtime, value) -> None:
    _, exp = await _experiment(any_client)
    variant = (
        await call(any_client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"a": 1}))
    )["variant"]
    before = _count(any_runtime, "measurement")
    message = await call_error(
        any_client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": variant["id"], "metric": "m", "value": value}] * 2,
    )
    assert "points.0.value" in message and ("1e+15" in message or "1000000000000000" in message), message
    assert _count(any_runtime, "measurement") == before


async def test_values_at_the_limit_compute_every_statistic(any_client, any_runtime) -> None:
    """The extreme accepted values: compare and promote succeed, with finite statistics."""
    any_runtime.review.import_unit("space", "other", {"a": 0}, human_identity("human:alice"), tier="staging")
    _, exp = await _experiment(any_client)
    a = (await call(any_client, "variant_log", experiment_id=exp["id"], name="a", configuration=json.dumps({"a": 1})))[
        "variant"
    ]
    b = (await call(any_client, "variant_log", experiment_id=exp["id"], name="b", configuration=json.dumps({"a": 2})))[
        "variant"
    ]
    points = [{"variant": a["id"], "metric": "m", "value": 1e15 - k} for k in range(10)]
    points += [{"variant": b["id"], "metric": "m", "value": -1e15 + k} for k in range(10)]
    await call(any_client, "result_log", experiment_id=exp["id"], points=points)
    comparison = await call(any_client, "experiment_compare", experiment_id=exp["id"])
    assert {row["n"] for row in comparison["variants"]} == {10}
    await call(any_client, "variant_promote", variant_id=b["id"], rationale="lowest", confidence=0.5, new_unit=True)


@pytest.mark.parametrize(("field", "limit"), [("step", "9223372036854775807"), ("repetition", "2147483647")])
async def test_step_and_repetition_beyond_their_columns_are_refused(any_client, any_runtime, field, limit) -> None:
    _, exp = await _experiment(any_client)
    variant = (
        await call(any_client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"a": 1}))
    )["variant"]
    for bad in (2**63, 2**64 + 5, int(limit) + 1):
        message = await call_error(
            any_client,
            "result_log",
            experiment_id=exp["id"],
            points=[{"variant": variant["id"], "metric": "m", "value": 1.0, field: bad}],
        )
        assert f"points.0.{field}" in message and limit in message, message
    await call(
        any_client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": variant["id"], "metric": "m", "value": 1.0, field: int(limit)}],
    )
    assert _count(any_runtime, "measurement") == 1


@pytest.mark.parametrize("ttl", HUGE_TTLS)
async def test_absurd_ttls_are_refused_by_every_tool(any_client, any_runtime, ttl) -> None:
    sandbox, _ = await _experiment(any_client)
    before = {t: _count(any_runtime, t) for t in ("sandbox", "audit_event", "bypass_decision")}
    calls = [
        ("sandbox_spawn", {"name": "s", "purpose": "p", "ttl": ttl}),
        ("sandbox_renew", {"sandbox_id": sandbox["id"], "ttl": ttl}),
        ("bypass_check", {"context": "sandbox", "ttl": ttl}),
    ]
    for tool, arguments in calls:
        message = await call_error(any_client, tool, **arguments)
        assert "ttl" in message and "3650d" in message, (tool, message)
    assert {t: _count(any_runtime, t) for t in before} == before


async def test_values_stored_before_the_limit_give_a_named_error_on_both_backends(any_client, any_runtime) -> None:
    """Rows written before the limit existed (a database at 0009, written here behind the input model's back)
    overflow the statistics when migration 0010 builds the summaries: compare and promote say so, the same way
    on SQLite and PostgreSQL, instead of crashing."""
    any_runtime.review.import_unit("space", "unit", {"a": 0}, human_identity("human:alice"), tier="staging")
    _, exp = await _experiment(any_client)
    variant = (
        await call(any_client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"a": 1}))
    )["variant"]
    logged = await call(
        any_client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": variant["id"], "metric": "m", "value": 1.0}] * 2,
    )
    migrate(any_runtime, "0009")
    with any_runtime.ctx.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE measurement SET value = :v WHERE batch_id = :b"), {"v": 1e308, "b": logged["batch_id"]}
        )
    migrate(any_runtime, "head")
    for tool, arguments in (
        ("experiment_compare", {"experiment_id": exp["id"]}),
        ("variant_promote", {"variant_id": variant["id"], "rationale": "r", "confidence": 0.5, "justification": "j"}),
    ):
        message = await call_error(any_client, tool, **arguments)
        assert "too large to compare" in message and "1e+15" in message, (tool, message)
        assert str(logged["batch_id"]) in message, message  # named: found by a scan, on a worker thread
