"""Quotas per agent (app/quotas.py), through the MCP client: over a quota, a ToolError naming the quota, the
count, when it frees up and how a human raises it, and nothing written; a human raises one for one agent
(audited); the policy file sets them for everyone."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from mcp import Client
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.config import Settings
from cublab.domain.errors import Forbidden
from cublab.domain.identity import human_identity, parse_identity, principal_of
from cublab.mcp_server import build_server
from cublab.runtime import Runtime
from cublab.store import results
from support.audit import events
from support.mcp import call, call_error, finished_experiment
from support.policy_files import DEFAULT, write
from support.runtime import AGENT, AGENT_PRINCIPAL, migrate

pytestmark = pytest.mark.anyio

LEAD = human_identity("human:lead")
BASE = {"lambdaMemory": 512, "region": "eu-west-1"}


def raise_to(runtime: Runtime, name: str, value: int) -> None:
    runtime.quotas.set(parse_identity(AGENT), name, value, LEAD, "test")


def counts(runtime: Runtime) -> tuple[int, int]:
    import sqlalchemy as sa

    with runtime.ctx.db.engine.connect() as conn:
        rows = sum(
            conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("sandbox", "experiment", "variant", "result_batch", "measurement", "proposal")
        )
    return rows, len(events(runtime))


def quota_message(message: str, name: str) -> None:
    assert f"quota {name}" in message and AGENT_PRINCIPAL in message, message
    assert f"cublab quotas set --agent {AGENT_PRINCIPAL} --name {name}" in message, message


async def test_live_sandboxes(any_runtime: Runtime, any_client: Client, clock) -> None:
    runtime, client = any_runtime, any_client
    raise_to(runtime, "live_sandboxes", 2)
    first = await call(client, "sandbox_spawn", name="a", purpose="p", ttl="2h")
    await call(client, "sandbox_spawn", name="b", purpose="p", ttl="3h")
    before = counts(runtime)
    message = await call_error(client, "sandbox_spawn", name="c", purpose="p")
    quota_message(message, "live_sandboxes")
    assert "has 2 live sandboxes" in message and "sandbox_destroy" in message
    assert f"{first['expires_at'][:10]} {first['expires_at'][11:19]} UTC" in message  # the next expiry
    assert counts(runtime) == before
    await call(client, "sandbox_destroy", sandbox_id=first["id"])
    await call(client, "sandbox_spawn", name="c", purpose="p", ttl="1h")
    await call_error(client, "sandbox_spawn", name="d", purpose="p")
    clock.advance(minutes=61)  # "c" expired: its slot frees up without a destroy
    await call(client, "sandbox_spawn", name="d", purpose="p")


async def test_variants_per_experiment(runtime: Runtime, client: Client) -> None:
    raise_to(runtime, "variants_per_experiment", 2)
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
    await call(client, "variant_log", experiment_id=exp["id"], name="v1", configuration=json.dumps({"k": 1}))
    await call(client, "variant_log", experiment_id=exp["id"], name="v2", configuration=json.dumps({"k": 2}))
    again = await call(client, "variant_log", experiment_id=exp["id"], name="v1", configuration=json.dumps({"k": 1}))
    assert again["duplicate"]  # the same content is not a new variant: no quota spent
    before = counts(runtime)
    message = await call_error(
        client, "variant_log", experiment_id=exp["id"], name="v3", configuration=json.dumps({"k": 3})
    )
    quota_message(message, "variants_per_experiment")
    assert f"2 variants in experiment {exp['id']}" in message and "start another experiment" in message
    assert counts(runtime) == before


async def test_points_per_hour(any_runtime: Runtime, any_client: Client, clock) -> None:
    runtime, client = any_runtime, any_client
    raise_to(runtime, "points_per_hour", 10)
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
    variant = (
        await call(client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"k": 1}))
    )["variant"]
    points = [{"variant": variant["id"], "metric": "m", "value": float(k)} for k in range(6)]
    await call(client, "result_log", experiment_id=exp["id"], points=points)
    first_at = clock.now
    clock.advance(minutes=10)
    before = counts(runtime)
    message = await call_error(client, "result_log", experiment_id=exp["id"], points=points)
    quota_message(message, "points_per_hour")
    assert "logged 6 points in the last hour and sent 6 more" in message
    frees = first_at + timedelta(hours=1)  # when the first batch ages out of the hour
    assert f"frees up at {frees:%Y-%m-%d %H:%M:%S} UTC" in message
    assert counts(runtime) == before
    too_many = await call_error(client, "result_log", experiment_id=exp["id"], points=points * 2)
    assert "sent 12 points in one call" in too_many
    clock.advance(minutes=51)
    await call(client, "result_log", experiment_id=exp["id"], points=points)


async def _one_variant_experiment(client: Client) -> str:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="4h")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    await call(client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"k": 1}))
    return str(exp["id"])


def _points(n: int) -> list[dict[str, object]]:
    return [{"variant": "v", "metric": "m", "value": float(k)} for k in range(n)]


def _hour_by_rows(runtime: Runtime, since: datetime) -> int:
    """The principal's points after `since`, summed from its batch rows (what the running totals must equal)."""
    from sqlmodel import select

    from cublab.store.tables import ResultBatch

    with runtime.ctx.db.read() as session:
        rows = session.exec(select(ResultBatch.created_by, ResultBatch.created_at, ResultBatch.point_count)).all()
    return sum(n for who, at, n in rows if principal_of(who) == AGENT_PRINCIPAL and at > since)


async def test_only_the_last_hour_counts(any_runtime: Runtime, any_client: Client, clock) -> None:
    """A batch an hour old or older does not count; the one just inside the hour does, to the second; the count from
    the running totals equals the sum over the batch rows, also after migration 0011 rebuilt the totals."""
    runtime, client = any_runtime, any_client
    raise_to(runtime, "points_per_hour", 10)
    exp = await _one_variant_experiment(client)
    start = clock.now
    await call(client, "result_log", experiment_id=exp, points=_points(4))
    clock.advance(minutes=30)
    await call(client, "result_log", experiment_id=exp, points=_points(4))
    clock.advance(minutes=29, seconds=59)  # the first batch is a second short of an hour old: it counts
    message = await call_error(client, "result_log", experiment_id=exp, points=_points(3))
    assert "logged 8 points in the last hour and sent 3 more" in message, message
    assert f"frees up at {start + timedelta(hours=1):%Y-%m-%d %H:%M:%S} UTC" in message
    clock.advance(seconds=1)  # now it is an hour old: out of the window
    await call(client, "result_log", experiment_id=exp, points=_points(6))
    message = await call_error(client, "result_log", experiment_id=exp, points=_points(1))
    assert "logged 10 points in the last hour and sent 1 more" in message, message
    clock.advance(minutes=31)  # the second batch has aged out too; the third (6 points) still counts
    await call(client, "result_log", experiment_id=exp, points=_points(4))
    since = clock.now - timedelta(hours=1)
    with runtime.ctx.db.read() as session:
        assert results.points_since(session.connection(), AGENT_PRINCIPAL, since) == _hour_by_rows(runtime, since) == 10
    migrate(runtime, "0010")  # a database from before the totals: the migration computes them for its batches
    migrate(runtime, "head")
    with runtime.ctx.db.read() as session:
        assert results.points_since(session.connection(), AGENT_PRINCIPAL, since) == 10
        assert results.points_since(session.connection(), AGENT_PRINCIPAL, start - timedelta(seconds=1)) == 18
    await call_error(client, "result_log", experiment_id=exp, points=_points(1))


async def test_open_proposals(runtime: Runtime, client: Client) -> None:
    from cublab.domain.identity import human_identity as human

    runtime.review.import_unit("mw-staging", "handler", BASE, human("human:admin"), tier="staging")
    runtime.review.import_unit("mw-staging", "other", BASE, human("human:admin"), tier="staging")
    raise_to(runtime, "open_proposals", 1)
    _, variants = await finished_experiment(client, "mw-staging", "handler", BASE)
    await call(client, "variant_promote", variant_id=variants[-1]["id"], rationale="wins", confidence=0.9)
    _, others = await finished_experiment(client, "mw-staging", "other", BASE)
    before = counts(runtime)
    message = await call_error(client, "variant_promote", variant_id=others[-1]["id"], rationale="w", confidence=0.9)
    quota_message(message, "open_proposals")
    assert "has 1 open proposals" in message and "humans decide" in message
    assert counts(runtime) == before


async def test_the_policy_sets_quotas_and_a_human_raises_one_for_one_agent(tmp_path: Path, sqlite_url: str) -> None:
    data = yaml.safe_load(DEFAULT)
    data["quotas"]["live_sandboxes"] = 1
    policy = write(tmp_path, "tight.yaml", yaml.safe_dump(data, sort_keys=False))
    runtime = Runtime(Settings(db=sqlite_url, agent=AGENT, policy_path=policy))
    try:
        async with Client(build_server(runtime)) as client:
            await call(client, "sandbox_spawn", name="a", purpose="p")
            quota_message(await call_error(client, "sandbox_spawn", name="b", purpose="p"), "live_sandboxes")
            with pytest.raises(Forbidden):
                runtime.quotas.set(parse_identity(AGENT), "live_sandboxes", 5, parse_identity("agent:pytest-other"))
            runner = CliRunner()
            args = ["quotas", "set", "--agent", "agent:pytest-session9", "--name", "live_sandboxes", "--value", "3"]
            refused = runner.invoke(cli_app, [*args, "--db", sqlite_url], env={"CUBLAB_AGENT": AGENT})
            assert refused.exit_code == 2
            done = runner.invoke(
                cli_app,
                [*args, "--db", sqlite_url, "--policy", policy, "--as", "human:lead"],
                env={"CUBLAB_AGENT": None},
            )
            assert done.exit_code == 0, done.output
            await call(client, "sandbox_spawn", name="b", purpose="p")  # every session of agent:pytest
            await call(client, "sandbox_spawn", name="c", purpose="p")
            await call_error(client, "sandbox_spawn", name="d", purpose="p")
        listed = runner.invoke(
            cli_app,
            ["quotas", "list", "--agent", AGENT, "--db", sqlite_url, "--policy", policy],
            env={"CUBLAB_AGENT": None},
        )
        assert "live_sandboxes" in listed.output and "3" in listed.output and "set by human:lead" in listed.output
        [event] = [e for e in events(runtime) if e["action"] == "quota.set"]
        assert event["actor"] == "human:lead" and event["object_id"] == f"{AGENT_PRINCIPAL}/live_sandboxes"
        details = json.loads(event["details"]) if isinstance(event["details"], str) else event["details"]
        assert details["previous"] == 1 and details["value"] == 3
    finally:
        runtime.close()
