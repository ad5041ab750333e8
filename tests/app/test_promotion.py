"""Governed promotion (step 5): through the MCP client for the agent's side, and the
use cases and CLI for the human side. Every refusal is tried."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.domain.errors import Conflict, Forbidden
from cublab.domain.identity import Identity, human_identity
from cublab.store.tables import Proposal
from support.mcp import call, call_error, finished_experiment
from support.runtime import AGENT

pytestmark = pytest.mark.anyio

ALICE = human_identity("human:alice")
BOB = human_identity("human:bob")
BASE = {
    "lambdaMemory": 512,
    "lambdaTimeout": 30,
    "eventSource": "sqs",
    "region": "eu-west-1",
    "awsAccountId": "111111111111",
}


@pytest.fixture
def seeded(runtime):
    runtime.review.import_unit("mw-prod", "handler", BASE, ALICE, tier="production")
    runtime.review.import_unit("mw-staging", "handler", BASE, ALICE, tier="staging")
    return runtime


async def experiment(
    client,
    space="mw-staging",
    unit="handler",
    changes=({"lambdaMemory": 1024}, {"lambdaMemory": 2048}),
    means=(200.0, 120.0),
):
    """A finished experiment over BASE whose last variant wins clearly; returns (experiment, [variants])."""
    return await finished_experiment(client, space, unit, BASE, changes, means)


async def promote(client, variant_id, **extra):
    return await call(
        client, "variant_promote", variant_id=variant_id, rationale="faster at the same cost", confidence=0.8, **extra
    )


def head(runtime, space="mw-staging", unit="handler"):
    with runtime.ctx.db.read() as session:
        return runtime.ctx.authority(session).get_head(space, unit)


async def test_whole_workflow_ends_with_the_variant_as_head(client, seeded, clock) -> None:
    exp, (_slow, fast) = await experiment(
        client, space="mw-staging", changes=({"lambdaMemory": 1024}, {"region": "eu-central-1"})
    )
    proposal = await promote(client, fast["id"], model="test-model")
    assert proposal["state"] == "pending"
    assert proposal["target"] == {"space": "mw-staging", "unit": "handler", "new_unit": False, "base_revision_num": 1}
    assert proposal["patch"] == [{"op": "replace", "path": "/region", "value": "eu-central-1"}]
    assert proposal["proposer"] == {"identity": AGENT, "model": "test-model", "confidence": 0.8}
    assert proposal["evidence"]["winner"] == fast["id"]
    assert head(seeded).data == BASE, "the unit's head must not move on a proposal"
    sandbox = (await call(client, "experiment_get", experiment_id=exp["id"]))["sandbox_status"]
    assert sandbox == "destroyed", "promotion destroys the sandbox (step 4 before step 5)"

    # A human reviews and decides through the CLI.
    db = seeded.settings.db
    runner = CliRunner()
    shown = runner.invoke(cli_app, ["proposals", "show", proposal["id"], "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "-region: eu-west-1" in shown.output and "+region: eu-central-1" in shown.output
    assert "still required" in shown.output
    decide = {"approval": "approve", "acknowledgment": "ack", "objection_window": "ack"}[
        proposal["requirement"]["kind"]
    ]
    for who in ("human:alice", "human:bob")[: max(1, proposal["requirement"]["approvals_needed"])]:
        result = runner.invoke(
            cli_app, ["proposals", decide, proposal["id"], "--reason", "ok", "--as", who, "--db", db]
        )
        assert result.exit_code == 0, result.output
    applied = runner.invoke(cli_app, ["proposals", "apply", proposal["id"], "--as", "human:carol", "--db", db])
    assert applied.exit_code == 0, applied.output
    assert head(seeded).data == fast["config"]
    assert head(seeded).head_revision_num == 2 and head(seeded).live_revision_num == 2
    final = await call(client, "proposal_get", proposal_id=proposal["id"])
    assert final["state"] == "applied"
    verify = runner.invoke(cli_app, ["audit", "verify", "--db", db])
    assert verify.exit_code == 0, verify.output


async def test_promoting_twice_returns_the_same_proposal(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    first = await promote(client, fast["id"])
    again = await promote(client, fast["id"])
    assert again["id"] == first["id"] and again["promoted_again"] is True
    assert len((await call(client, "proposal_list"))["proposals"]) == 1


async def test_precondition_results_for_the_objective(client, seeded) -> None:
    sandbox = await call(client, "sandbox_spawn", name="t", purpose="p")
    exp = await call(
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
    variant = (
        await call(
            client,
            "variant_log",
            experiment_id=exp["id"],
            name="v",
            configuration=json.dumps({**BASE, "lambdaMemory": 1024}),
        )
    )["variant"]
    await call(
        client, "result_log", experiment_id=exp["id"], points=[{"variant": "v", "metric": "other", "value": 1.0}]
    )
    message = await call_error(client, "variant_promote", variant_id=variant["id"], rationale="r", confidence=0.5)
    assert "no results for the objective metric 'p95'" in message


async def test_precondition_winner_or_justification(client, seeded) -> None:
    _, (slow, _fast) = await experiment(client)
    message = await call_error(client, "variant_promote", variant_id=slow["id"], rationale="r", confidence=0.5)
    assert "variant_promote: justification:" in message and "not the winner" in message
    proposal = await promote(client, slow["id"], justification="cheaper, and latency is within budget")
    assert proposal["justification"] == "cheaper, and latency is within budget"


async def test_not_enough_data_needs_a_justification(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    exp_id = fast["experiment_id"]
    await call(
        client, "variant_log", experiment_id=exp_id, name="v3", configuration=json.dumps({**BASE, "lambdaMemory": 4096})
    )
    await call(
        client, "result_log", experiment_id=exp_id, points=[{"variant": "v3", "metric": "p95", "value": 90.0}] * 2
    )
    message = await call_error(client, "variant_promote", variant_id=fast["id"], rationale="r", confidence=0.5)
    assert "not enough data to name a winner" in message


async def test_precondition_target_exists_or_new_unit(client, seeded) -> None:
    _, (_, fast) = await experiment(client, unit="new-handler")
    message = await call_error(client, "variant_promote", variant_id=fast["id"], rationale="r", confidence=0.5)
    assert "target_unit" in message and "new_unit=true" in message
    assert "not under governance yet" in message
    assert "`cublab authority import <file> --space mw-staging --unit new-handler" in message
    proposal = await promote(client, fast["id"], new_unit=True)
    assert proposal["target"]["new_unit"] is True and proposal["target"]["base_revision_num"] is None
    assert proposal["risk"]["level"] in ("MEDIUM", "HIGH"), "creating a unit is at least MEDIUM"


async def test_new_unit_refused_when_it_exists(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    message = await call_error(
        client, "variant_promote", variant_id=fast["id"], rationale="r", confidence=0.5, new_unit=True
    )
    assert "variant_promote: new_unit:" in message and "already exists" in message


async def test_unknown_space_is_refused(client, seeded) -> None:
    _, (_, fast) = await experiment(client, space="nowhere")
    message = await call_error(client, "variant_promote", variant_id=fast["id"], rationale="r", confidence=0.5)
    assert "variant_promote: target_space:" in message


async def test_an_ungoverned_space_names_the_command_that_governs_it_and_the_command_works(
    client, runtime, tmp_path
) -> None:
    """On a fresh database nothing is governed: the refusal names the human command, and running that
    command (with a file and a tier filled in) is all it takes for the same promotion to go through."""
    _, (_, fast) = await experiment(client, space="web-prod")
    message = await call_error(client, "variant_promote", variant_id=fast["id"], rationale="r", confidence=0.5)
    assert "no space 'web-prod' in the embedded authority: it is not under governance yet" in message
    command = message.split("`")[1]
    assert command.startswith("cublab authority import <file> --space web-prod --unit handler --tier ")
    unit_file = tmp_path / "handler.yaml"
    unit_file.write_text(json.dumps(BASE))
    argv = command.split()[1:]
    argv[argv.index("<file>")] = str(unit_file)
    argv[-1] = "production"
    imported = CliRunner().invoke(cli_app, [*argv, "--as", "human:alice", "--db", str(runtime.settings.db)])
    assert imported.exit_code == 0, imported.output
    proposal = await promote(client, fast["id"])
    assert proposal["target"]["space"] == "web-prod" and proposal["state"] == "pending"


async def test_bypass_check_names_the_command_for_a_space_not_governed_yet(client, seeded) -> None:
    answer = await call(client, "bypass_check", context="production", kind="Deployment", name="web", space="web-prod")
    assert answer["verdict"] == "use_confighub"
    assert any(
        "no space 'web-prod'" in w and "cublab authority import <file> --space web-prod" in w
        for w in answer["warnings"]
    )
    governed = await call(client, "bypass_check", context="production", kind="Deployment", name="web", space="mw-prod")
    assert not any("not under governance" in w for w in governed["warnings"])


async def test_secret_in_a_stored_variant_is_refused_at_promotion(client, seeded) -> None:
    """A variant stored before the gate existed (written straight to the table) still cannot be promoted."""
    from sqlmodel import select

    from cublab.store.tables import Variant

    _, (_, fast) = await experiment(client)
    with seeded.ctx.db.write() as session:
        row = session.exec(select(Variant).where(Variant.id == fast["id"])).one()
        row.config_json = json.dumps({**fast["config"], "dbPassword": "hunter2-Wq8x!zP0"})
        session.add(row)
    message = await call_error(client, "variant_promote", variant_id=fast["id"], rationale="r", confidence=0.5)
    assert "/dbPassword" in message and "hunter2" not in message


async def test_secret_in_rationale_is_refused(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    message = await call_error(
        client,
        "variant_promote",
        variant_id=fast["id"],
        confidence=0.5,
        rationale="works with key AKIAIOSFODNN7EXAMPLE",
    )
    assert "AKIAIOSFODNN7EXAMPLE" not in message and "rationale" in message


async def test_variant_equal_to_head_is_refused(client, seeded) -> None:
    _, (same, _) = await experiment(client, changes=({}, {"lambdaMemory": 2048}), means=(100.0, 200.0))
    message = await call_error(client, "variant_promote", variant_id=same["id"], rationale="r", confidence=0.5)
    assert "nothing to propose" in message


async def test_agents_cannot_decide_by_any_path(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    proposal = await promote(client, fast["id"])
    names = {t.name for t in (await client.list_tools()).tools}
    assert not {n for n in names if any(w in n for w in ("approve", "apply", "reject", "ack", "decide"))}
    assert (await client.call_tool("proposal_approve", {"proposal_id": proposal["id"]})).is_error
    agent = Identity("agent", AGENT)
    for decide in (seeded.review.approve, seeded.review.acknowledge, seeded.review.reject):
        with pytest.raises(Forbidden):
            decide(proposal["id"], agent, "self-approval")
    with pytest.raises(Forbidden):
        seeded.review.apply(proposal["id"], agent)
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["proposals", "approve", proposal["id"], "--reason", "x", "--as", AGENT, "--db", seeded.settings.db]
    )
    assert result.exit_code == 2 and "not 'human:<name>'" in result.output
    result = runner.invoke(
        cli_app,
        ["proposals", "approve", proposal["id"], "--reason", "x", "--db", seeded.settings.db],
        env={"CUBLAB_AGENT": AGENT},
    )
    assert result.exit_code == 2 and "CUBLAB_AGENT" in result.output
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["decisions"] == []


async def test_proposer_never_counts(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    proposal = await promote(client, fast["id"])
    with seeded.ctx.db.write() as session:  # a human-made proposal (e.g. imported) must not be self-approved either
        row = session.get(Proposal, proposal["id"])
        row.proposer = "human:alice"
        session.add(row)
    with pytest.raises(Forbidden, match="proposer never decides"):
        seeded.review.approve(proposal["id"], ALICE, "mine")


async def test_production_high_needs_two_distinct_approvers(client, seeded, panel) -> None:
    _, (_, fast) = await experiment(
        client, space="mw-prod", changes=({"lambdaMemory": 1024}, {"awsAccountId": "222222222222"})
    )
    proposal = await promote(client, fast["id"])
    assert proposal["risk"]["level"] == "HIGH"
    assert proposal["requirement"]["kind"] == "approval" and proposal["requirement"]["approvals_needed"] == 2
    assert proposal["requirement"]["signed"], "production decisions are signed (promotion.signed_decision_tiers)"
    alice, bob = panel.add("alice"), panel.add("bob")
    with pytest.raises(Conflict, match="explicit approval"):
        panel.acknowledge(proposal["id"], alice, "ack is not enough")
    view = panel.approve(proposal["id"], alice, "ok")
    assert view.state == "pending" and not view.requirement_met
    assert view.decisions[0].key_fingerprint and view.decisions[0].key_fingerprint.startswith("SHA256:")
    with pytest.raises(Conflict, match="already decided"):
        panel.approve(proposal["id"], alice, "again", account="alice-laptop")
    with pytest.raises(Conflict, match="cannot be applied yet"):
        seeded.review.apply(proposal["id"], BOB)
    view = panel.approve(proposal["id"], bob, "ok too")
    assert view.state == "approved" and view.requirement_met
    outcome = seeded.review.apply(proposal["id"], BOB)
    assert outcome.applied and head(seeded, "mw-prod").data["awsAccountId"] == "222222222222"


async def test_medium_needs_one_acknowledgment(client, seeded) -> None:
    _, (_, fast) = await experiment(client, changes=({"lambdaMemory": 1024}, {"region": "us-east-1"}))
    proposal = await promote(client, fast["id"])
    assert proposal["risk"]["level"] == "MEDIUM" and proposal["requirement"]["kind"] == "acknowledgment"
    with pytest.raises(Conflict, match="one human acknowledgment"):
        seeded.review.apply(proposal["id"], ALICE)
    seeded.review.acknowledge(proposal["id"], ALICE, "seen")
    assert seeded.review.apply(proposal["id"], BOB).applied


async def test_low_applies_after_the_objection_window(client, seeded, clock) -> None:
    _, (_, fast) = await experiment(client)
    proposal = await promote(client, fast["id"])
    assert proposal["risk"]["level"] == "LOW" and proposal["requirement"]["kind"] == "objection_window"
    with pytest.raises(Conflict, match="objection window"):
        seeded.review.apply(proposal["id"], ALICE)
    clock.advance(minutes=5, seconds=1)
    assert seeded.review.apply(proposal["id"], ALICE).applied


async def test_low_objection_rejects(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    proposal = await promote(client, fast["id"])
    view = seeded.review.reject(proposal["id"], ALICE, "not during the freeze")
    assert view.state == "rejected"
    with pytest.raises(Conflict, match="rejected"):
        seeded.review.apply(proposal["id"], ALICE)
    assert head(seeded).head_revision_num == 1


async def test_expiry_after_seven_days(client, seeded, clock) -> None:
    _, (_, fast) = await experiment(client)
    proposal = await promote(client, fast["id"])
    clock.advance(days=7, seconds=1)
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["state"] == "expired"
    with pytest.raises(Conflict, match="expired"):
        seeded.review.approve(proposal["id"], ALICE, "too late")
    assert seeded.review.expire_due(Identity("system", "system:cublab")) == [proposal["id"]]
    expired = await call(client, "proposal_list", state="expired")
    assert [p["id"] for p in expired["proposals"]] == [proposal["id"]]


async def test_base_moved_makes_the_proposal_stale(client, seeded, clock) -> None:
    _, (_, fast) = await experiment(client)
    proposal = await promote(client, fast["id"])
    seeded.review.import_unit("mw-staging", "handler", {**BASE, "lambdaTimeout": 60}, BOB)
    clock.advance(minutes=6)
    outcome = seeded.review.apply(proposal["id"], ALICE)
    assert not outcome.applied and "stale" in outcome.message and "revision 2" in outcome.message
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["state"] == "stale"
    assert head(seeded).data["lambdaTimeout"] == 60


async def test_competing_proposals_first_applied_wins(client, seeded, clock) -> None:
    _, (_, first) = await experiment(client)
    _, (_, second) = await experiment(client, changes=({"lambdaMemory": 1024}, {"lambdaMemory": 3008}))
    a, b = await promote(client, first["id"]), await promote(client, second["id"])
    clock.advance(minutes=6)
    outcome = seeded.review.apply(b["id"], ALICE)
    assert outcome.applied and outcome.staled == [a["id"]]
    stale = await call(client, "proposal_get", proposal_id=a["id"])
    assert stale["state"] == "stale" and b["id"] in stale["state_reason"]


async def test_proposal_resource_serves_the_diff(client, seeded) -> None:
    _, (_, fast) = await experiment(client)
    proposal = await promote(client, fast["id"])
    result = await client.read_resource(f"cublab://proposals/{proposal['id']}")
    document = json.loads(result.contents[0].text)
    assert document["proposal"]["id"] == proposal["id"]
    assert "-lambdaMemory: 512" in document["diff"] and "+lambdaMemory: 2048" in document["diff"]


async def test_promotion_and_decisions_on_every_database(any_client, any_runtime, any_panel, clock) -> None:
    """The governed path end to end on SQLite and PostgreSQL: promote, two approvals, apply, a stale rival."""
    any_runtime.review.import_unit("mw-prod", "handler", BASE, ALICE, tier="production")
    _, (_, first) = await experiment(
        any_client, space="mw-prod", changes=({"lambdaMemory": 1024}, {"awsAccountId": "222222222222"})
    )
    _, (_, rival) = await experiment(
        any_client, space="mw-prod", changes=({"lambdaMemory": 1024}, {"lambdaTimeout": 60})
    )
    proposal, other = await promote(any_client, first["id"]), await promote(any_client, rival["id"])
    assert proposal["requirement"]["approvals_needed"] == 2
    any_panel.approve(proposal["id"], any_panel.add("alice"), "ok")
    any_panel.approve(proposal["id"], any_panel.add("bob"), "ok")
    outcome = any_runtime.review.apply(proposal["id"], ALICE)
    assert outcome.applied and outcome.staled == [other["id"]]
    assert head(any_runtime, "mw-prod").data["awsAccountId"] == "222222222222"
    with any_runtime.ctx.db.engine.connect() as conn:
        from cublab.store import audit

        assert audit.verify(conn).ok
