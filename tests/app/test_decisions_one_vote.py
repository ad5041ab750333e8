"""One human, one vote, through the use cases and the CLI: each attack from the security
issue is tried and must fail (case and Unicode look-alikes of one name, the proposer under a
human prefix, an empty CUBLAB_AGENT, one OS account or one key posing as two people, a
zero-width justification or reason)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cublab.app import context
from cublab.cli import app as cli_app
from cublab.domain.errors import Conflict, Forbidden, InvalidInput
from cublab.domain.identity import human_identity
from support.mcp import call, call_error, finished_experiment
from support.reviewers import make_key
from support.runtime import AGENT

pytestmark = pytest.mark.anyio

BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "region": "eu-west-1", "awsAccountId": "111111111111"}
ZERO_WIDTH = "\u200b\u2060"


@pytest.fixture
def seeded(runtime):
    admin = human_identity("human:admin")
    runtime.review.import_unit("mw-prod", "handler", BASE, admin, tier="production")
    runtime.review.import_unit("mw-staging", "handler", BASE, admin, tier="staging")
    return runtime


async def high(client, space="mw-prod"):
    """A promoted HIGH proposal (a cross-account change): two approvers in production, one in staging."""
    _, (_, fast) = await finished_experiment(
        client, space, "handler", BASE, changes=({"lambdaMemory": 1024}, {"awsAccountId": "222222222222"})
    )
    return await call(client, "variant_promote", variant_id=fast["id"], rationale="move accounts", confidence=0.7)


def cli(runtime, *args, env=None, account="carol(uid 1001)@host"):
    """The CLI as a human at their own login (`account`), with no CUBLAB_AGENT in the environment."""
    original = context._os_account
    context._os_account = lambda: account
    try:
        return CliRunner().invoke(
            cli_app, [*args, "--db", runtime.settings.db], env={"CUBLAB_AGENT": None, "COLUMNS": "300", **(env or {})}
        )
    finally:
        context._os_account = original


# ---- one name, however it is written ---------------------------------------------------------


@pytest.mark.parametrize("second", ["human:Carol", "HUMAN:CAROL", "human:ＣＡＲＯＬ", " human:carol "])
async def test_two_spellings_of_one_name_are_one_approver(client, seeded, second: str) -> None:
    proposal = await high(client, "mw-staging")
    first = cli(seeded, "proposals", "approve", proposal["id"], "--reason", "ok", "--as", "human:carol")
    assert first.exit_code == 0, first.output
    again = cli(seeded, "proposals", "approve", proposal["id"], "--reason", "ok", "--as", second, account="other@host")
    assert again.exit_code == 2 and "already decided" in again.output
    view = await call(client, "proposal_get", proposal_id=proposal["id"])
    assert [d["actor"] for d in view["decisions"]] == ["human:carol"], "stored folded, once"


@pytest.mark.parametrize("lookalike", ["human:c\u0430rol", "human:carol\u200b", "human:ca\u2060rol"])
async def test_a_lookalike_name_is_refused(client, seeded, lookalike: str) -> None:
    proposal = await high(client, "mw-staging")
    result = cli(seeded, "proposals", "approve", proposal["id"], "--reason", "ok", "--as", lookalike)
    assert result.exit_code == 2 and "--as: " in result.output and "is not an identity" in result.output
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["decisions"] == []


async def test_two_spellings_in_production_do_not_meet_the_two_approver_rule(client, seeded, panel) -> None:
    proposal = await high(client)
    assert proposal["requirement"]["approvals_needed"] == 2
    carol = panel.add("carol")
    panel.approve(proposal["id"], carol, "ok")
    shouting = panel.add("CAROL", register=False)  # the same folded name: the same person
    assert shouting.identity == carol.identity
    with pytest.raises(Conflict, match="already decided"):
        panel.approve(proposal["id"], shouting, "ok", account="carol-laptop", key=carol.key)
    with pytest.raises(Conflict, match="cannot be applied yet"):
        seeded.review.apply(proposal["id"], human_identity("human:ops"))


# ---- the proposer under a human prefix -----------------------------------------------------------


@pytest.mark.parametrize(
    "alias",
    [
        "human:pytest-session1",  # the proposing agent's own identity, as a human
        "human:Pytest-Session1",
        "human:pytest",  # its principal
        "human:ＰＹＴＥＳＴ",
        "human:pytest-session9",  # another session of the proposing agent
    ],
)
async def test_the_proposer_never_decides_under_a_human_prefix(client, seeded, alias: str) -> None:
    assert AGENT == "agent:pytest-session1"
    proposal = await high(client, "mw-staging")
    for verb in ("approve", "reject"):
        result = cli(seeded, "proposals", verb, proposal["id"], "--reason", "mine", "--as", alias)
        assert result.exit_code == 2 and "proposer" in result.output, result.output
    with pytest.raises(Forbidden, match="proposer"):
        seeded.review.approve(proposal["id"], human_identity(alias), "mine")
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["decisions"] == []


# ---- CUBLAB_AGENT set at all -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", "\t", AGENT])
async def test_a_set_cublab_agent_blocks_decisions_even_empty(client, seeded, value: str) -> None:
    proposal = await high(client, "mw-staging")
    for args in (
        ["proposals", "approve", proposal["id"], "--reason", "ok", "--as", "human:carol"],
        ["proposals", "reject", proposal["id"], "--reason", "no", "--as", "human:carol"],
        ["proposals", "apply", proposal["id"], "--as", "human:carol"],
        ["reviewers", "add", "human:carol", "/dev/null", "--as", "human:carol"],
    ):
        result = cli(seeded, *args, env={"CUBLAB_AGENT": value})
        assert result.exit_code == 2 and "CUBLAB_AGENT" in result.output, (args, result.output)
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["decisions"] == []


# ---- what backs a decision: the OS account and the SSH key -----------------------------------------


async def test_two_names_from_one_os_account_are_one_person(client, seeded) -> None:
    proposal = await high(client, "mw-staging")
    assert cli(seeded, "proposals", "approve", proposal["id"], "--reason", "ok", "--as", "human:carol").exit_code == 0
    dave = cli(seeded, "proposals", "approve", proposal["id"], "--reason", "ok", "--as", "human:dave")
    assert dave.exit_code == 2 and "OS account" in dave.output and "already decided" in dave.output


async def test_production_refuses_an_unsigned_decision_with_the_command_to_run(client, seeded) -> None:
    proposal = await high(client)
    assert proposal["requirement"]["signed"] is True
    result = cli(seeded, "proposals", "approve", proposal["id"], "--reason", "ok", "--as", "human:carol")
    assert result.exit_code == 2
    assert (
        f"cublab proposals approve {proposal['id']} --reason ok --as human:carol --sign-with ~/.ssh/id_ed25519"
        in result.output
    )
    assert "cublab reviewers add human:carol ~/.ssh/id_ed25519.pub" in result.output
    staging = await high(client, "mw-staging")
    assert staging["requirement"]["signed"] is False


async def test_production_two_approvals_need_two_registered_keys(client, seeded, tmp_path) -> None:
    proposal = await high(client)
    carol_key, dave_key, stray = (make_key(tmp_path / "k", n) for n in ("carol", "dave", "stray"))
    assert cli(seeded, "reviewers", "add", "human:carol", f"{carol_key}.pub", "--as", "human:carol").exit_code == 0
    # one key, one person: the same key cannot be registered for a second name
    shared = cli(seeded, "reviewers", "add", "human:dave", f"{carol_key}.pub", "--as", "human:dave")
    assert shared.exit_code == 2 and "already registered for human:carol" in shared.output
    # dave signing with carol's key, or with a key nobody registered, is not dave
    for key in (carol_key, stray):
        forged = cli(
            seeded,
            "proposals",
            "approve",
            proposal["id"],
            "--reason",
            "ok",
            "--as",
            "human:dave",
            "--sign-with",
            str(key),
            account="dave@host",
        )
        assert forged.exit_code == 2 and "not an allowed signer for human:dave" in forged.output, forged.output
    approve = ["proposals", "approve", proposal["id"], "--reason", "ok"]
    carol = cli(seeded, *approve, "--as", "human:carol", "--sign-with", str(carol_key))
    assert carol.exit_code == 0 and "state pending" in carol.output, carol.output
    assert cli(seeded, "reviewers", "add", "human:dave", f"{dave_key}.pub", "--as", "human:dave").exit_code == 0
    dave = cli(seeded, *approve, "--as", "human:dave", "--sign-with", str(dave_key), account="dave@host")
    assert dave.exit_code == 0 and "state approved" in dave.output, dave.output
    view = await call(client, "proposal_get", proposal_id=proposal["id"])
    assert view["requirement_met"] and all(d["key_fingerprint"].startswith("SHA256:") for d in view["decisions"])
    listed = cli(seeded, "reviewers", "list")
    assert "human:carol" in listed.output and "human:dave" in listed.output and "2 key(s)" in listed.output
    assert cli(seeded, "proposals", "apply", proposal["id"], "--as", "human:ops").exit_code == 0


async def test_a_signature_does_not_move_to_another_proposal_decision_or_reason(client, seeded, panel) -> None:
    first, second = await high(client), await high(client)
    carol = panel.add("carol")
    seeded.ctx.os_account = lambda: carol.account
    from cublab.app.signing import sign

    signed_first = sign(seeded.review.decision_message(first["id"], "approve", carol.identity, "ok"), carol.key)
    for proposal_id, reason in ((second["id"], "ok"), (first["id"], "ok, and more")):
        with pytest.raises(Forbidden, match="does not match this decision"):
            seeded.review.approve(proposal_id, carol.identity, reason, signature=signed_first)
    with pytest.raises(Forbidden, match="does not match this decision"):
        seeded.review.reject(first["id"], carol.identity, "ok", signature=signed_first)
    assert seeded.review.approve(first["id"], carol.identity, "ok", signature=signed_first).decisions


async def test_removing_a_reviewer_stops_their_signatures(client, seeded, panel) -> None:
    proposal = await high(client)
    carol = panel.add("carol")
    removed = cli(seeded, "reviewers", "remove", "human:Carol", "--as", "human:admin")
    assert removed.exit_code == 0 and "SHA256:" in removed.output
    with pytest.raises(Forbidden, match="not an allowed signer"):
        panel.approve(proposal["id"], carol, "ok")


# ---- visible text ------------------------------------------------------------------------------


async def test_a_zero_width_justification_does_not_promote_a_losing_variant(client, seeded) -> None:
    _, (loser, _winner) = await finished_experiment(client, "mw-staging", "handler", BASE)
    for justification in (ZERO_WIDTH, " \u200b ", "\u3164"):
        message = await call_error(
            client,
            "variant_promote",
            variant_id=loser["id"],
            rationale="r",
            confidence=0.5,
            justification=justification,
        )
        assert "justification" in message and "visible text" in message, message
    message = await call_error(client, "variant_promote", variant_id=loser["id"], rationale=ZERO_WIDTH, confidence=0.5)
    assert "rationale" in message and "visible text" in message, message
    assert (await call(client, "proposal_list"))["proposals"] == []


async def test_a_zero_width_reason_is_refused_for_every_decision(client, seeded) -> None:
    proposal = await high(client, "mw-staging")
    carol = human_identity("human:carol")
    for decide in (seeded.review.approve, seeded.review.reject):
        with pytest.raises(InvalidInput, match=r"^reason: .*visible text"):
            decide(proposal["id"], carol, ZERO_WIDTH)
    with pytest.raises(InvalidInput, match=r"^reason: "):
        seeded.review.apply(proposal["id"], carol, "\u2060")
    result = cli(seeded, "proposals", "reject", proposal["id"], "--reason", ZERO_WIDTH, "--as", "human:carol")
    assert result.exit_code == 2 and "reason: " in result.output
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["state"] == "pending"
