"""Ownership across two agents sharing one `cublab serve --http`: each calls with its own bearer
token (`cublab tokens create --agent ...`). The second agent reads the first one's experiment but cannot log
results into it (200 points used to flip the winner), log variants, add experiments to its
sandbox, renew or destroy the sandbox, or promote its winner. Another session of the owner
can. A human hands the experiment over with `cublab experiments transfer`, audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from support.mcp import call, call_error
from support.runtime import make_runtime
from support.serve import agent_client, serve_http

pytestmark = pytest.mark.anyio

OWNER = "agent:claude-desktop-session1"
OWNER_AGAIN = "agent:claude-desktop-session2"  # the same principal, a later session
INTRUDER = "agent:codex-cli-7f3a"
BASE = {"lambdaMemory": 512, "region": "eu-west-1"}


def refused(message: str, *, owner: str = "agent:claude-desktop", by: str = INTRUDER) -> None:
    assert "belongs to " + owner in message, message
    assert by in message and "cublab experiments transfer" in message, message


async def test_two_agents_over_http(tmp_path: Path) -> None:
    db = str(tmp_path / "cublab.db")
    runtime = make_runtime(db)  # migrates, and seeds the target as a human would
    from cublab.domain.identity import human_identity

    runtime.review.import_unit("mw-staging", "handler", BASE, human_identity("human:admin"), tier="staging")
    runtime.close()

    with serve_http(db, "agent:server-default", tmp_path / "server.log") as server:
        async with agent_client(server, OWNER) as owner:
            sandbox = await call(owner, "sandbox_spawn", name="tune", purpose="memory vs p95", ttl="2h")
            exp = await call(
                owner,
                "experiment_create",
                sandbox_id=sandbox["id"],
                name="memory",
                hypothesis="more memory is faster",
                objective_metric="p95",
                direction="minimize",
                target_space="mw-staging",
                target_unit="handler",
            )
            slow = (
                await call(
                    owner,
                    "variant_log",
                    experiment_id=exp["id"],
                    name="m1024",
                    configuration=json.dumps({**BASE, "lambdaMemory": 1024}),
                )
            )["variant"]
            fast = (
                await call(
                    owner,
                    "variant_log",
                    experiment_id=exp["id"],
                    name="m2048",
                    configuration=json.dumps({**BASE, "lambdaMemory": 2048}),
                )
            )["variant"]
            points = [
                {"variant": v["id"], "metric": "p95", "value": mean + k % 5}
                for v, mean in ((slow, 200.0), (fast, 120.0))
                for k in range(10)
            ]
            await call(owner, "result_log", experiment_id=exp["id"], points=points)
            assert sandbox["owner"] == exp["owner"] == "agent:claude-desktop"

        async with agent_client(server, INTRUDER) as intruder:
            # reads stay open
            log = await call(intruder, "experiment_get", experiment_id=exp["id"])
            assert log["experiment"]["owner"] == "agent:claude-desktop"
            assert (await call(intruder, "experiment_compare", experiment_id=exp["id"]))["winner"] == fast["id"]
            assert (await call(intruder, "sandbox_get", sandbox_id=sandbox["id"]))["owner"] == "agent:claude-desktop"
            # writes are refused, naming the owner and the transfer a human can make
            flip = [{"variant": slow["id"], "metric": "p95", "value": 1.0} for _ in range(200)]
            refused(await call_error(intruder, "result_log", experiment_id=exp["id"], points=flip))
            refused(
                await call_error(
                    intruder, "variant_log", experiment_id=exp["id"], name="x", configuration=json.dumps({"a": 1})
                )
            )
            refused(
                await call_error(
                    intruder,
                    "experiment_create",
                    sandbox_id=sandbox["id"],
                    name="mine now",
                    hypothesis="h",
                    objective_metric="p95",
                    direction="minimize",
                )
            )
            refused(await call_error(intruder, "sandbox_renew", sandbox_id=sandbox["id"], ttl="3h"))
            refused(await call_error(intruder, "sandbox_destroy", sandbox_id=sandbox["id"]))
            refused(
                await call_error(intruder, "variant_promote", variant_id=fast["id"], rationale="mine", confidence=0.9)
            )
            after = await call(intruder, "experiment_compare", experiment_id=exp["id"])
            assert after["winner"] == fast["id"] and {v["n"] for v in after["variants"]} == {10}
            assert (await call(intruder, "sandbox_get", sandbox_id=sandbox["id"]))["status"] == "active"
            assert (await call(intruder, "proposal_list"))["proposals"] == []

        async with agent_client(server, OWNER_AGAIN) as again:  # a later session of the owner carries on
            await call(again, "result_log", experiment_id=exp["id"], points=points[:2])
            await call(again, "sandbox_renew", sandbox_id=sandbox["id"], ttl="3h")

        # a human hands the experiment (and its sandbox) over; agents cannot
        runner = CliRunner()
        transfer = ["experiments", "transfer", exp["id"], "--to", INTRUDER, "--db", db]
        assert (
            runner.invoke(cli_app, [*transfer, "--reason", "x", "--as", OWNER], env={"CUBLAB_AGENT": None}).exit_code
            == 2
        )
        blank = runner.invoke(
            cli_app, [*transfer, "--reason", "\u200b", "--as", "human:lead"], env={"CUBLAB_AGENT": None}
        )
        assert blank.exit_code == 2 and "reason" in blank.output
        done = runner.invoke(
            cli_app,
            [*transfer, "--reason", "claude's session ended; codex finishes it", "--as", "human:Lead"],
            env={"CUBLAB_AGENT": None},
        )
        assert done.exit_code == 0, done.output
        assert f"sandbox {sandbox['id']}" in done.output and "agent:codex-cli" in done.output

        async with agent_client(server, INTRUDER) as new_owner:
            await call(new_owner, "result_log", experiment_id=exp["id"], points=points[:2])
            proposal = await call(
                new_owner, "variant_promote", variant_id=fast["id"], rationale="2048 MB wins", confidence=0.9
            )
            assert proposal["state"] == "pending"
        async with agent_client(server, OWNER) as former:
            refused(
                await call_error(former, "result_log", experiment_id=exp["id"], points=points[:1]),
                owner="agent:codex-cli",
                by=OWNER,
            )

    runtime = make_runtime(db)
    try:
        with runtime.ctx.db.read() as session:
            from sqlmodel import select

            from cublab.store.tables import AuditEvent

            events = session.exec(select(AuditEvent).where(AuditEvent.action.like("%.transfer"))).all()
        assert {(e.action, e.object_id) for e in events} == {
            ("sandbox.transfer", sandbox["id"]),
            ("experiment.transfer", exp["id"]),
        }
        assert all(e.actor == "human:lead" and e.details["to"] == "agent:codex-cli" for e in events)
        assert all(e.details["from"] == "agent:claude-desktop" for e in events)
        assert runtime.audit.verify().ok
    finally:
        runtime.close()
