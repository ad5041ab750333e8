"""Break-glass reconciliation end to end (seed criterion 4): declare, capture within 1 hour,
review within 24 hours, and the loud reporting of an overdue capture. The agent's side goes
through the MCP client; the human review through the use cases and the CLI."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.domain.identity import human_identity
from support.mcp import call, call_error
from support.runtime import AGENT

pytestmark = pytest.mark.anyio

ALICE = human_identity("human:alice")
BOB = human_identity("human:bob")
CAROL = human_identity("human:carol")
BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs", "region": "eu-west-1"}
QUEUE = {"batchSize": 10, "visibilityTimeout": 60}
HANDLER, QUEUE_UNIT = "mw-prod/handler", "mw-prod/queue"
SECRET_VALUE = "Tr0ub4dor-" + "x9Qz7Lk2"


@pytest.fixture
def seeded(runtime):
    runtime.review.import_unit("mw-prod", "handler", BASE, ALICE, tier="production")
    runtime.review.import_unit("mw-prod", "queue", QUEUE, ALICE, tier="production")
    return runtime


def head(runtime, space="mw-prod", unit="handler"):
    with runtime.ctx.db.read() as session:
        return runtime.ctx.authority(session).get_head(space, unit)


def audit_count(runtime) -> int:
    with sqlite3.connect(runtime.settings.db) as conn:
        return conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def declare(client, incident="INC-2041", units=(HANDLER, QUEUE_UNIT)):
    return await call(
        client,
        "breakglass_declare",
        incident_id=incident,
        reason="handler OOM-killed under load; memory raised by hand",
        units=list(units),
    )


async def capture(client, unit, live, incident="INC-2041"):
    return await call(client, "breakglass_capture", incident_id=incident, unit=unit, live_state=json.dumps(live))


async def test_declare_opens_a_capture_per_unit_and_one_review(client, seeded, clock) -> None:
    before = audit_count(seeded)
    incident = await declare(client)
    assert incident["incident_id"] == "INC-2041" and incident["declared_again"] is False
    assert incident["declared_by"] == AGENT and incident["units"] == [HANDLER, QUEUE_UNIT]
    assert incident["policy_version"] == seeded.policy.digest
    captures = [o for o in incident["obligations"] if o["kind"] == "capture"]
    reviews = [o for o in incident["obligations"] if o["kind"] == "review"]
    assert sorted(o["unit"] for o in captures) == [HANDLER, QUEUE_UNIT]
    assert len(reviews) == 1 and reviews[0]["unit"] is None
    for ob in captures:
        assert ob["status"] == "open" and when(ob["due_at"]) == clock.now + timedelta(hours=1)
    assert when(reviews[0]["due_at"]) == clock.now + timedelta(hours=24)
    assert audit_count(seeded) == before + 1

    again = await declare(client, units=(QUEUE_UNIT, HANDLER))
    assert again["declared_again"] is True and len(again["obligations"]) == 3
    assert audit_count(seeded) == before + 1, "declaring again stores nothing"
    message = await call_error(client, "breakglass_declare", incident_id="INC-2041", reason="r", units=[HANDLER])
    assert "incident_id" in message and "units" in message
    listed = await call(client, "obligation_list")
    assert listed["open"] == 3 and listed["overdue"] == 0 and listed["warnings"] == []


async def test_capture_records_a_pending_break_glass_revision_and_meets_the_obligation(client, seeded, clock) -> None:
    await declare(client)
    clock.advance(minutes=20)
    live = {**BASE, "lambdaMemory": 2048}
    result = await capture(client, HANDLER, live)
    assert result["drift"] is True
    proposal = result["proposal"]
    assert proposal["state"] == "pending"
    assert proposal["target"]["space"] == "mw-prod" and proposal["target"]["unit"] == "handler"
    assert proposal["patch"] == [{"op": "replace", "path": "/lambdaMemory", "value": 2048}]
    assert "INC-2041" in proposal["rationale"]
    assert result["obligation"]["status"] == "met" and result["obligation"]["met_by"] == AGENT
    assert result["obligation"]["evidence"]["late"] is False
    assert head(seeded).data == BASE and head(seeded).head_revision_num == 1, "a capture never moves the head"

    with sqlite3.connect(seeded.settings.db) as conn:
        conn.row_factory = sqlite3.Row
        rev = conn.execute("SELECT * FROM ch_revision WHERE state = 'pending'").fetchone()
        change_set = conn.execute(
            "SELECT * FROM ch_change_set WHERE change_set_id = ?", (rev["change_set_id"],)
        ).fetchone()
        tags = {r[0] for r in conn.execute("SELECT slug FROM ch_tag")}
    assert "break-glass" in rev["tags"] and rev["source"] == "capture"
    stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%S")
    assert "INC-2041" in rev["description"] and stamp in rev["description"]
    assert "INC-2041" in change_set["slug"] and change_set["state"] == "open"
    assert proposal["authority"]["change_set_slug"] == change_set["slug"] == "break-glass-INC-2041"
    assert proposal["authority"]["change_set_id"] == change_set["change_set_id"]
    assert proposal["experiment_id"] is None and proposal["variant_id"] is None
    assert "break-glass" in tags
    obligations = await call(client, "obligation_list", status="all", incident_id="INC-2041")
    statuses = {(o["kind"], o["unit"]): o["status"] for o in obligations["obligations"]}
    assert statuses == {("capture", HANDLER): "met", ("capture", QUEUE_UNIT): "open", ("review", None): "open"}


async def test_live_state_equal_to_head_meets_the_obligation_without_a_proposal(client, seeded) -> None:
    await declare(client)
    result = await capture(client, QUEUE_UNIT, dict(QUEUE))
    assert result["drift"] is False and result["proposal"] is None
    assert result["obligation"]["status"] == "met" and result["obligation"]["evidence"]["drift"] is False
    with sqlite3.connect(seeded.settings.db) as conn:
        assert conn.execute("SELECT count(*) FROM proposal").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM ch_revision WHERE state = 'pending'").fetchone()[0] == 0


async def test_capture_refusals_name_the_field_and_store_nothing(client, seeded) -> None:
    await declare(client, units=(HANDLER,))
    before = audit_count(seeded)
    cases = [
        (dict(incident_id="INC-2041", unit=QUEUE_UNIT, live_state=json.dumps(QUEUE)), "unit"),
        (dict(incident_id="INC-9999", unit=HANDLER, live_state=json.dumps(BASE)), "incident_id"),
        (
            dict(incident_id="INC-2041", unit=HANDLER, live_state=json.dumps({**BASE, "dbPassword": SECRET_VALUE})),
            "live_state",
        ),
    ]
    for args, field in cases:
        message = await call_error(client, "breakglass_capture", **args)
        assert message.split(":")[0].endswith(field) or f"{field}:" in message, message
        assert SECRET_VALUE not in message
    assert audit_count(seeded) == before
    await capture(client, HANDLER, {**BASE, "lambdaMemory": 1024})
    message = await call_error(
        client,
        "breakglass_capture",
        incident_id="INC-2041",
        unit=HANDLER,
        live_state=json.dumps({**BASE, "lambdaMemory": 4096}),
    )
    assert "unit" in message and "already captured" in message
    with sqlite3.connect(seeded.settings.db) as conn:
        assert conn.execute("SELECT count(*) FROM proposal").fetchone()[0] == 1
        dump = "\n".join(
            repr(r)
            for t in ("ch_revision", "proposal", "audit_event", "incident", "obligation")
            for r in conn.execute(f"SELECT * FROM {t}")
        )
    assert SECRET_VALUE not in dump


async def test_review_persists_one_capture_and_reverts_the_other(client, seeded, clock, panel) -> None:
    await declare(client)
    keep = (await capture(client, HANDLER, {**BASE, "lambdaMemory": 2048}))["proposal"]
    undo = (await capture(client, QUEUE_UNIT, {**QUEUE, "batchSize": 1}))["proposal"]
    review = [o for o in (await call(client, "obligation_list"))["obligations"] if o["kind"] == "review"]
    assert review and review[0]["status"] == "open", "captured but not yet reviewed"

    clock.advance(hours=3)
    needed = keep["requirement"]["approvals_needed"]
    kind = keep["requirement"]["kind"]
    alice, bob = panel.add("alice"), panel.add("bob")
    for who in (alice, bob)[: max(1, needed)]:
        panel.decide("approve" if kind == "approval" else "acknowledge", keep["id"], who, "the fix stays")
    outcome = seeded.review.apply(keep["id"], CAROL, "post-incident review: persist")
    assert outcome.applied, outcome.message
    assert head(seeded).data == {**BASE, "lambdaMemory": 2048} and head(seeded).head_revision_num == 2
    panel.reject(undo["id"], alice, "revert: batch size 1 was a diagnostic, not a fix")
    assert head(seeded, unit="queue").data == QUEUE and head(seeded, unit="queue").head_revision_num == 1

    everything = await call(client, "obligation_list", status="all")
    assert {o["status"] for o in everything["obligations"]} == {"met"}
    assert everything["open"] == 0 and everything["met"] == 3 and everything["warnings"] == []
    review = next(o for o in everything["obligations"] if o["kind"] == "review")
    assert sorted(review["evidence"]["decisions"]) == sorted([f"{keep['id']}: applied", f"{undo['id']}: rejected"])
    with sqlite3.connect(seeded.settings.db) as conn:
        states = dict(
            conn.execute("SELECT change_set_id, state FROM ch_change_set WHERE slug LIKE '%INC-2041%'").fetchall()
        )
    assert list(states.values()) == ["applied"]
    verify = CliRunner().invoke(cli_app, ["audit", "verify", "--db", seeded.settings.db])
    assert verify.exit_code == 0, verify.output


async def test_overdue_capture_is_reported_loudly_everywhere(client, seeded, clock) -> None:
    clock.advance(hours=-1, minutes=-1)  # declared 1 h 1 min ago, so the CLI (on the wall clock) sees it overdue too
    await declare(client, units=(HANDLER,))
    clock.advance(minutes=59)
    assert (await call(client, "obligation_list"))["warnings"] == []
    clock.advance(minutes=2)  # 1 h 1 min after the declaration
    listed = await call(client, "obligation_list")
    capture_ob = next(o for o in listed["obligations"] if o["kind"] == "capture")
    assert capture_ob["status"] == "overdue" and "OVERDUE" in capture_ob["description"]
    assert listed["overdue"] == 1 and listed["open"] == 2
    assert len(listed["warnings"]) == 1
    assert listed["warnings"][0].startswith("OVERDUE capture for incident INC-2041 (mw-prod/handler)")
    assert "late by 1m" in listed["warnings"][0]
    assert [o["kind"] for o in (await call(client, "obligation_list", status="overdue"))["obligations"]] == ["capture"]

    answer = await call(client, "bypass_check", context="kind-dev", kind="Deployment", name="web")
    assert answer["warnings"] == listed["warnings"]

    runner, db = CliRunner(), seeded.settings.db
    for argv in (["obligations", "--db", db], ["proposals", "list", "--db", db], ["decisions", "list", "--db", db]):
        result = runner.invoke(cli_app, argv, env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        assert "OVERDUE" in result.stderr and "INC-2041" in result.stderr, argv
        assert "!!!" not in result.stdout, "the banner goes to stderr, listings stay parseable"
    table = runner.invoke(cli_app, ["obligations", "--db", db], env={"COLUMNS": "300"})
    assert "overdue" in table.stdout and "1 overdue" in table.stdout

    late = await capture(client, HANDLER, {**BASE, "lambdaTimeout": 60})
    assert late["obligation"]["status"] == "met" and late["obligation"]["evidence"]["late"] is True
    assert "captured late" in late["message"]
    after = await call(client, "obligation_list")
    assert after["overdue"] == 0 and after["warnings"] == []
    quiet = runner.invoke(cli_app, ["obligations", "--db", db])
    assert "OVERDUE" not in quiet.stderr


async def test_overdue_review_after_24_hours(client, seeded, clock) -> None:
    await declare(client, units=(HANDLER,))
    await capture(client, HANDLER, {**BASE, "lambdaMemory": 1024})
    clock.advance(hours=24, seconds=1)
    listed = await call(client, "obligation_list")
    assert [(o["kind"], o["status"]) for o in listed["obligations"]] == [("review", "overdue")]
    assert listed["warnings"] and listed["warnings"][0].startswith("OVERDUE review for incident INC-2041")


async def test_break_glass_round_trip_on_every_database(any_client, any_runtime, any_panel, clock) -> None:
    """Declare, capture (as YAML text), persist: the same on SQLite and PostgreSQL."""
    any_runtime.review.import_unit("mw-prod", "handler", BASE, ALICE, tier="production")
    await declare(any_client, units=(HANDLER,))
    clock.advance(minutes=10)
    live_yaml = "lambdaMemory: 1536\nlambdaTimeout: 30\neventSource: sqs\nregion: eu-west-1\n"
    result = await call(any_client, "breakglass_capture", incident_id="INC-2041", unit=HANDLER, live_state=live_yaml)
    proposal = result["proposal"]
    assert result["drift"] is True and proposal["patch"] == [{"op": "replace", "path": "/lambdaMemory", "value": 1536}]
    kind = proposal["requirement"]["kind"]
    for who in (any_panel.add("alice"), any_panel.add("bob"))[: max(1, proposal["requirement"]["approvals_needed"])]:
        any_panel.decide("approve" if kind == "approval" else "acknowledge", proposal["id"], who, "keep")
    assert any_runtime.review.apply(proposal["id"], CAROL).applied
    assert head(any_runtime).data == {**BASE, "lambdaMemory": 1536}
    listed = await call(any_client, "obligation_list", status="all")
    assert listed["met"] == 2 and listed["open"] == 0


async def test_declare_and_capture_refuse_secrets_and_unknown_spaces(client, seeded) -> None:
    before = audit_count(seeded)
    message = await call_error(
        client, "breakglass_declare", incident_id="INC-1", reason=f"rotated password={SECRET_VALUE}", units=[HANDLER]
    )
    assert "reason" in message and SECRET_VALUE not in message
    assert audit_count(seeded) == before
    # A space the authority does not know could never be captured: its obligation would be overdue forever.
    message = await call_error(
        client, "breakglass_declare", incident_id="INC-2", reason="typo", units=[HANDLER, "mw-nowhere/handler"]
    )
    assert "units" in message and "mw-nowhere" in message
    assert audit_count(seeded) == before and (await call(client, "obligation_list", status="all"))["obligations"] == []
    # A new unit in a known space is fine: it may have been created by hand during the outage.
    await declare(client, incident="INC-3", units=("mw-prod/hotfix-cron",))
    result = await capture(client, "mw-prod/hotfix-cron", {"schedule": "*/5 * * * *"}, incident="INC-3")
    assert result["proposal"]["target"]["new_unit"] is True and head(seeded, unit="hotfix-cron") is None


async def test_an_expired_capture_still_owes_its_review(client, seeded, clock, panel) -> None:
    """Expiry is not a decision: the review stays open until a human reverts (or persisted) the capture."""
    from cublab.domain.identity import SYSTEM

    await declare(client, units=(HANDLER,))
    captured = await capture(client, HANDLER, {**BASE, "lambdaMemory": 3008})
    proposal_id = captured["proposal"]["id"]
    clock.advance(days=8)
    assert seeded.review.expire_due(SYSTEM) == [proposal_id]
    review = next(
        o for o in (await call(client, "obligation_list", status="all"))["obligations"] if o["kind"] == "review"
    )
    assert review["status"] == "overdue", "an expired capture was never reviewed"
    panel.reject(proposal_id, panel.add("alice"), "revert: the live system goes back to revision 1")
    review = next(
        o for o in (await call(client, "obligation_list", status="all"))["obligations"] if o["kind"] == "review"
    )
    assert review["status"] == "met"
    assert head(seeded).data == BASE
