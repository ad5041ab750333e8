"""Tampering with the database, end to end: each attack is named by `cublab audit verify` and refused by apply.

The attacker writes the database (SQLite file or PostgreSQL schema) but holds no key and
never touches the witness: support/audit.py's LogWriter. The victim is a production
HIGH-risk proposal that needs two distinct human approvals.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.domain.errors import Conflict, Forbidden
from cublab.domain.identity import human_identity
from cublab.store.tables import Proposal, ProposalDecision
from support.audit import LogWriter
from support.mcp import call, finished_experiment
from support.reviewers import Panel

pytestmark = pytest.mark.anyio

ALICE, BOB = human_identity("human:alice"), human_identity("human:bob")
BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "region": "eu-west-1", "awsAccountId": "111111111111"}


async def high_proposal(client, runtime) -> str:
    runtime.review.import_unit("mw-prod", "handler", BASE, ALICE, tier="production")
    _, (_, variant) = await finished_experiment(
        client, "mw-prod", "handler", BASE, ({"lambdaMemory": 1024}, {"awsAccountId": "222222222222"})
    )
    proposal = await call(client, "variant_promote", variant_id=variant["id"], rationale="r", confidence=0.8)
    assert proposal["risk"]["level"] == "HIGH" and proposal["requirement"]["approvals_needed"] == 2
    return proposal["id"]


async def approved(client, runtime) -> str:
    """Approved by two people, genuinely; then the agent does a little more, so the log goes on."""
    pid = await high_proposal(client, runtime)
    panel = reviewers(runtime)
    panel.approve(pid, panel.add("alice"), "ok")
    panel.approve(pid, panel.add("bob"), "ok too")
    for n in range(3):
        await call(client, "sandbox_spawn", name=f"later-{n}", purpose="p")
    return pid


def reviewers(runtime) -> Panel:
    """Production decisions are signed: reviewers with their own keys and OS accounts."""
    return Panel(runtime, Path(tempfile.mkdtemp(prefix="tamper-keys-")))


def cli(*args: str, db: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, [*args, "--db", db], env={"CUBLAB_AGENT": None, "COLUMNS": "400"})
    return result.exit_code, result.output


def verify(runtime) -> list[str]:
    """The problems `cublab audit verify` names (the use case and the CLI agree)."""
    check = runtime.audit.verify()
    code, output = cli("audit", "verify", db=runtime.settings.db)
    assert (code == 0) == check.ok, output
    for problem in check.problems:
        assert problem in output
    return check.problems


def refused(runtime, pid: str, who=ALICE) -> str:
    """Apply must refuse and change nothing: the unit's head stays at BASE."""
    with pytest.raises(Conflict, match=f"{pid} cannot be applied") as refusal:
        runtime.review.apply(pid, who)
    code, output = cli("proposals", "apply", pid, "--as", str(who), db=runtime.settings.db)
    assert code == 2 and "cannot be applied" in output, output
    with runtime.ctx.db.read() as session:
        assert runtime.ctx.authority(session).get_head("mw-prod", "handler").data == BASE
    return str(refusal.value)


async def test_an_untouched_log_verifies_and_apply_goes_through(any_client, any_runtime) -> None:
    pid = await approved(any_client, any_runtime)
    assert verify(any_runtime) == []
    code, output = cli("audit", "verify", db=any_runtime.settings.db)
    assert code == 0 and "authenticated" in output and "public key ed25519:" in output
    assert any_runtime.review.apply(pid, ALICE).applied
    assert verify(any_runtime) == []


async def test_forged_approvals_with_correctly_chained_events(any_client, any_runtime) -> None:
    """The reported attack: two human approvals inserted, each with a chained event; apply used to accept them.
    The forger fills in what quorum counts (an OS account, a key fingerprint each), so only the audit log can
    tell these decisions were never made through cublab."""
    pid = await high_proposal(any_client, any_runtime)
    writer = LogWriter(any_runtime.ctx.db.engine)
    with any_runtime.ctx.db.write() as session:
        for n, who in enumerate(("human:mallory", "human:eve")):
            session.add(
                ProposalDecision(
                    proposal_id=pid,
                    actor=who,
                    role="reviewer",
                    decision="approve",
                    reason="lgtm",
                    os_account=f"{who}(uid {1000 + n})@host",
                    key_fingerprint=f"SHA256:forged{n}",
                    created_at=any_runtime.ctx.clock(),
                )
            )
    last = writer.rows()[-1]
    writer.append(actor="human:mallory", action="proposal.approve", object_type="proposal", object_id=pid)
    writer.append(actor="human:eve", action="proposal.approve", object_type="proposal", object_id=pid)
    problems = verify(any_runtime)
    assert problems == [f"events {last['seq'] + 1}-{last['seq'] + 2}: " + problems[0].split(": ", 1)[1]]
    assert "not authenticated" in problems[0]
    message = refused(any_runtime, pid)
    assert "the approve by human:mallory" in message and "has no authenticated audit event" in message

    # A MAC copied from a genuine event does not help.
    rows = writer.rows()
    rows[-1]["mac"] = rows[-2]["mac"] = rows[0]["mac"]
    writer.rewrite(rows)
    assert all("MAC does not verify" in p for p in verify(any_runtime))
    assert "has no authenticated audit event" in refused(any_runtime, pid)


async def test_truncating_the_tail_and_moving_the_head_back(any_client, any_runtime) -> None:
    pid = await approved(any_client, any_runtime)
    writer = LogWriter(any_runtime.ctx.db.engine)
    rows = writer.rows()
    writer.rewrite(rows[:-2])  # the last two sandbox spawns, gone; the chain and the head consistent
    [problem] = verify(any_runtime)
    assert problem.startswith("witness: ") and f"events {len(rows) - 1}-{len(rows)} were deleted" in problem
    assert "the log was truncated" in refused(any_runtime, pid)


async def test_appending_a_forged_event(any_client, any_runtime) -> None:
    pid = await approved(any_client, any_runtime)
    writer = LogWriter(any_runtime.ctx.db.engine)
    event = writer.append(action="sandbox.destroy", explanation="cleaning up")
    assert verify(any_runtime) == [f"event {event['seq']}: " + verify(any_runtime)[0].split(": ", 1)[1]]
    assert f"event {event['seq']}: not authenticated" in refused(any_runtime, pid)


async def test_inserting_an_event_and_rechaining(any_client, any_runtime) -> None:
    pid = await approved(any_client, any_runtime)
    writer = LogWriter(any_runtime.ctx.db.engine)
    rows = writer.rows()
    rows.insert(2, {**rows[1], "explanation": "an event that never happened"})
    writer.rewrite(rows)
    problems = verify(any_runtime)
    assert problems[0].startswith(f"events 3-{len(rows)}: MAC does not verify")
    assert any(p.startswith("witness: ") and "the log was rewritten" in p for p in problems)
    assert "no authenticated audit event" in refused(any_runtime, pid)  # the approvals' events moved and re-hashed


async def test_editing_an_event_and_recomputing_the_rest(any_client, any_runtime) -> None:
    pid = await approved(any_client, any_runtime)
    writer = LogWriter(any_runtime.ctx.db.engine)
    rows = writer.rows()
    edited = len(rows) - 1  # the second-to-last event: after every decision, so only the log check can catch it
    rows[edited - 1]["explanation"] = "nothing to see"
    writer.rewrite(rows)
    problems = verify(any_runtime)
    assert problems[0] == f"events {edited}-{len(rows)}: " + problems[0].split(": ", 1)[1]
    assert "MAC does not verify" in problems[0] and "rewritten" in problems[1]
    assert "the log was rewritten" in refused(any_runtime, pid)


async def test_wiping_the_log(any_client, any_runtime) -> None:
    pid = await approved(any_client, any_runtime)
    LogWriter(any_runtime.ctx.db.engine).rewrite([])
    [problem] = verify(any_runtime)
    assert "the log is empty: it was wiped" in problem
    assert "no authenticated audit event" in refused(any_runtime, pid)


async def test_a_downgraded_requirement_is_refused(any_client, any_runtime) -> None:
    """Only one approval, and the proposal row edited to need one: the creation event says two."""
    pid = await high_proposal(any_client, any_runtime)
    panel = reviewers(any_runtime)
    panel.approve(pid, panel.add("alice"), "ok")
    with any_runtime.ctx.db.write() as session:
        proposal = session.get(Proposal, pid)
        proposal.requirement = {**proposal.requirement, "approvals_needed": 1}
        session.add(proposal)
    assert verify(any_runtime) == [], "the log itself is intact"
    message = refused(any_runtime, pid, BOB)
    assert "approvals needed 1 (created as 2)" in message


# ---- a log from before the key ------------------------------------------------------------------


async def test_a_log_from_before_the_key_is_sealed_by_a_human(any_client, any_runtime) -> None:
    pid = await approved(any_client, any_runtime)
    writer = LogWriter(any_runtime.ctx.db.engine)
    events = len(writer.rows())
    writer.execute(sa.update(writer.events).values(mac=None))
    any_runtime.ctx.witness.path.unlink()
    problems = verify(any_runtime)
    assert problems[0].startswith(f"events 1-{events}: not authenticated") and "does not exist" in problems[1]
    refused(any_runtime, pid)
    with pytest.raises(Forbidden, match="for humans"):
        any_runtime.audit.seal(any_runtime.agent)
    code, output = cli("audit", "seal", "--as", "human:alice", db=any_runtime.settings.db)
    assert code == 0 and f"sealed events 1-{events}" in output, output
    assert verify(any_runtime) == []
    assert writer.rows()[-1]["action"] == "audit.seal" and writer.rows()[-1]["actor"] == "human:alice"
    code, output = cli("audit", "seal", "--as", "human:alice", db=any_runtime.settings.db)
    assert "nothing to seal" in output
    assert any_runtime.review.apply(pid, ALICE).applied


async def test_seal_refuses_a_tampered_log(any_client, any_runtime) -> None:
    await approved(any_client, any_runtime)
    writer = LogWriter(any_runtime.ctx.db.engine)
    rows = writer.rows()
    rows[2]["explanation"] = "rewritten before sealing"
    writer.rewrite(rows)
    writer.execute(sa.update(writer.events).values(mac=None))
    code, output = cli("audit", "seal", "--as", "human:alice", db=any_runtime.settings.db)
    assert code == 2 and "sealing would authenticate whatever was done to it" in output, output


def test_audit_key_shows_where_and_the_public_key_never_the_key(runtime) -> None:
    code, output = cli("audit", "key", db=runtime.settings.db)
    key = runtime.ctx.audit_key
    assert code == 0 and key is not None
    assert key.source in output and str(runtime.ctx.witness.path) in output and key.public_key_text() in output
    assert key.secret.hex() not in output
