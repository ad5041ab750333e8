"""A way out of a bad batch: a human excludes it (`cublab results exclude`), compare and promote leave it out and
say so, its rows stay, and the decision is audited; on SQLite and PostgreSQL. Agents cannot do it."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from cublab.domain.identity import agent_identity, human_identity
from support.audit import events
from support.mcp import call, call_error
from support.runtime import migrate

pytestmark = pytest.mark.anyio

ALICE = human_identity("human:alice")
BASE = {"a": 0}


def _count(rt, table: str) -> int:
    with rt.ctx.db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


async def _experiment(client, rt) -> tuple[dict, dict, dict]:
    """Variant `fast` is better by good data; one bad batch makes `slow` look better."""
    rt.review.import_unit("space", "unit", BASE, ALICE, tier="staging")
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="2h")
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
    fast = (
        await call(client, "variant_log", experiment_id=exp["id"], name="fast", configuration=json.dumps({"a": 1}))
    )["variant"]
    slow = (
        await call(client, "variant_log", experiment_id=exp["id"], name="slow", configuration=json.dumps({"a": 2}))
    )["variant"]
    good = [{"variant": "fast", "metric": "m", "value": 100.0 + k % 3} for k in range(10)]
    good += [{"variant": "slow", "metric": "m", "value": 150.0 + k % 3} for k in range(10)]
    await call(client, "result_log", experiment_id=exp["id"], points=good)
    bad = await call(
        client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": "fast", "metric": "m", "value": 900.0 + k % 3} for k in range(30)],
    )
    return exp, {"fast": fast, "slow": slow}, bad


async def test_an_excluded_batch_is_left_out_of_compare_and_promote_which_say_so(any_client, any_runtime) -> None:
    exp, variants, bad = await _experiment(any_client, any_runtime)
    before = await call(any_client, "experiment_compare", experiment_id=exp["id"])
    assert [s.n for s in any_runtime.experiment_reads.sample(exp["id"]).variants] == [10, 40]
    assert before["winner"] == variants["slow"]["id"] and before["excluded_batches"] == []
    measurements, audit = _count(any_runtime, "measurement"), len(events(any_runtime))

    excluded = any_runtime.batches.exclude_batch(bad["batch_id"], "the load generator was misconfigured", ALICE)
    assert excluded.points == 30 and excluded.excluded_by == "human:alice"
    assert _count(any_runtime, "measurement") == measurements, "no row is deleted"
    (event,) = events(any_runtime)[audit:]
    assert (event["action"], event["actor"], event["object_id"]) == (
        "result.exclude",
        "human:alice",
        str(bad["batch_id"]),
    )

    after = await call(any_client, "experiment_compare", experiment_id=exp["id"])
    assert after["winner"] == variants["fast"]["id"]
    fast_row = next(v for v in after["variants"] if v["variant_id"] == variants["fast"]["id"])
    assert fast_row["n"] == 10
    sample = {s.name: s for s in any_runtime.experiment_reads.sample(exp["id"]).variants}
    assert len(sample["fast"].values) == 10 and sample["fast"].exact and max(sample["fast"].values) < 900
    (listed,) = after["excluded_batches"]
    assert listed["batch_id"] == bad["batch_id"] and listed["reason"] == "the load generator was misconfigured"
    assert f"batch {bad['batch_id']} by human:alice" in after["summary"] and "not counted" in after["summary"]

    proposal = await call(
        any_client, "variant_promote", variant_id=variants["fast"]["id"], rationale="fastest", confidence=0.9
    )
    assert proposal["evidence"]["excluded_batches"][0]["batch_id"] == bad["batch_id"]
    assert "excluded by humans" in proposal["evidence"]["summary"]

    assert any_runtime.batches.include_batch(bad["batch_id"], "misread the logs", ALICE) == 30
    again = await call(any_client, "experiment_compare", experiment_id=exp["id"])
    assert again["winner"] == variants["slow"]["id"] and again["excluded_batches"] == []


async def test_only_humans_exclude_with_a_reason_and_once(client, runtime) -> None:
    _, _, bad = await _experiment(client, runtime)
    batch = bad["batch_id"]
    audit = len(events(runtime))
    with pytest.raises(Forbidden, match="humans"):
        runtime.batches.exclude_batch(batch, "mine", agent_identity("agent:pytest-session1"))
    with pytest.raises(InvalidInput, match="reason"):
        runtime.batches.exclude_batch(batch, " \u200b ", ALICE)
    with pytest.raises(InvalidInput, match="reason"):
        runtime.batches.exclude_batch(batch, "bad\x1b[2J", ALICE)
    with pytest.raises(NotFound, match="batch: no result batch 999"):
        runtime.batches.exclude_batch(999, "r", ALICE)
    with pytest.raises(Conflict, match="not excluded"):
        runtime.batches.include_batch(batch, "r", ALICE)
    assert len(events(runtime)) == audit
    runtime.batches.exclude_batch(batch, "r", ALICE)
    with pytest.raises(Conflict, match="already excluded by human:alice"):
        runtime.batches.exclude_batch(batch, "r", ALICE)


async def test_the_cli_excludes_refuses_an_agents_shell_and_the_audit_verifies(client, runtime) -> None:
    exp, _, bad = await _experiment(client, runtime)
    db = runtime.settings.db
    args = ["results", "exclude", str(bad["batch_id"]), "--reason", "broken run", "--db", db]
    refused = CliRunner().invoke(cli_app, args, env={"CUBLAB_AGENT": "agent:x-1"})
    assert refused.exit_code == 2 and "CUBLAB_AGENT" in refused.output
    done = CliRunner().invoke(cli_app, [*args, "--as", "human:alice"], env={"CUBLAB_AGENT": None})
    assert done.exit_code == 0, done.output
    assert "excluded from comparisons" in done.output
    shown = CliRunner().invoke(cli_app, ["experiments", "show", exp["id"], "--db", db], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "by human:alice: broken run" in shown.output and "excluded by humans" in shown.output
    again = CliRunner().invoke(cli_app, [*args, "--as", "human:alice"], env={"CUBLAB_AGENT": None})
    assert again.exit_code == 2 and "already excluded" in again.output
    back = CliRunner().invoke(
        cli_app,
        ["results", "include", str(bad["batch_id"]), "--reason", "fine after all", "--db", db],
        env={"CUBLAB_AGENT": None},
    )
    assert back.exit_code == 0, back.output
    verify = CliRunner().invoke(cli_app, ["audit", "verify", "--db", db])
    assert verify.exit_code == 0, verify.output


async def test_values_stored_before_the_limit_name_their_batch_and_excluding_it_frees_the_experiment(
    any_client, any_runtime
) -> None:
    """The 1e308 case of the issue: a batch stored before the ±1e15 limit made an experiment impossible to
    compare or promote forever. The error names the batch; once a human excludes it, both work again.
    (The database is taken back to 0009 to write the values as they were stored then; migration 0010 builds
    the summaries they overflow.)"""
    exp, variants, bad = await _experiment(any_client, any_runtime)
    migrate(any_runtime, "0009")
    with any_runtime.ctx.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE measurement SET value = :v WHERE batch_id = :b"), {"v": 1e308, "b": bad["batch_id"]}
        )
    migrate(any_runtime, "head")
    promote = {"variant_id": variants["fast"]["id"], "rationale": "fastest", "confidence": 0.9}
    for tool, arguments in (("experiment_compare", {"experiment_id": exp["id"]}), ("variant_promote", promote)):
        message = await call_error(any_client, tool, **arguments)
        assert f"result batch(es) {bad['batch_id']}" in message and "cublab results exclude" in message, message
    any_runtime.batches.exclude_batch(bad["batch_id"], "values from before the limit", ALICE)
    comparison = await call(any_client, "experiment_compare", experiment_id=exp["id"])
    assert comparison["winner"] == variants["fast"]["id"]
    proposal = await call(any_client, "variant_promote", **promote)
    assert proposal["state"] == "pending"
