"""The promotion workflow on the ConfigHub backend, through the MCP client against the local fake.

An agent promotes; the proposal lands as a ChangeSet and a shadow unit; humans
merge, approve, apply or restore in ConfigHub (the fake's helpers); `cublab
proposals sync` follows. In-place mode writes the target only when confirmed.
"""

from __future__ import annotations

import json

import pytest
from mcp import Client
from sqlmodel import select
from typer.testing import CliRunner

from cublab.authority.base import ChangeRequest
from cublab.cli import app as cli_app
from cublab.domain.errors import InvalidInput
from cublab.mcp_server import build_server
from cublab.store.tables import Proposal
from support.confighub_fake import (
    BASE,
    confighub_runtime,
    finished_experiment,
)
from support.mcp import call

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def fake(fake):
    """The shared fake (app/conftest.py, which also checks for approve and apply calls); this module must use it."""
    yield fake
    assert fake.requests, "the module made no request at all"


@pytest.fixture
async def env(hub, sqlite_url, clock):
    runtime = confighub_runtime(sqlite_url, clock, hub)
    async with Client(build_server(runtime)) as client:
        yield runtime, client
    runtime.close()


def cli(runtime, hub, *args):
    environ = {
        "CUBLAB_AUTHORITY": "confighub",
        "CONFIGHUB_URL": hub.url,
        "CONFIGHUB_TOKEN": hub.token,
        "CUBLAB_AGENT": None,  # unset: a set CUBLAB_AGENT, even empty, blocks decisions
    }
    result = CliRunner().invoke(cli_app, [*args, "--db", runtime.settings.db], env=environ)
    return result


async def promote(client, space="mw-staging", unit="handler", **extra):
    _, (_, fast) = await finished_experiment(client, space, unit)
    return fast, await call(
        client, "variant_promote", variant_id=fast["id"], rationale="faster", confidence=0.8, **extra
    )


async def test_promote_lands_a_change_set_and_a_shadow_unit_and_sync_follows_the_humans(env, hub) -> None:
    runtime, client = env
    target = hub.unit("mw-staging", "handler")
    fast, proposal = await promote(client)
    assert proposal["state"] == "pending"
    (change_set,) = hub.change_sets_in("mw-staging")
    assert (
        change_set["Slug"] == f"proposal-{proposal['id']}"
        and change_set["ChangeSetID"] == proposal["authority"]["change_set_id"]
    )
    assert change_set["Annotations"]["base-revision"] == "1" and change_set["Annotations"]["rationale"] == "faster"
    (shadow,) = hub.units_in("mw-staging-proposals")
    assert shadow["UpstreamUnitID"] == target["UnitID"] and shadow["Labels"]["proposal-id"] == proposal["id"]
    assert json.loads(__import__("base64").b64decode(shadow["Data"])) == fast["config"]
    assert target["HeadRevisionNum"] == 1 and target["Version"] == 1, "shadow mode never writes the target"
    assert not hub.calls("PUT") and not [r for r in hub.calls("POST", "/unit$") if target["SpaceID"] in r.path]

    shown = cli(runtime, hub, "proposals", "show", proposal["id"])
    assert shown.exit_code == 0, shown.output
    assert f"cub unit list --space mw-staging --where \"ChangeSetID = '{change_set['ChangeSetID']}'\"" in shown.output
    assert "cub unit approve --space mw-staging handler" in shown.output and "export delivered" in shown.output

    synced = cli(runtime, hub, "proposals", "sync")
    assert synced.exit_code == 0 and "0 changed state" in synced.output, synced.output
    refused = CliRunner().invoke(
        cli_app,
        ["proposals", "approve", proposal["id"], "--reason", "ok", "--as", "human:alice", "--db", runtime.settings.db],
        env={"CUBLAB_AGENT": None},
    )
    assert refused.exit_code == 2 and "decide in ConfigHub" in refused.output, (
        "cublab records no decision on a ConfigHub proposal"
    )
    hub.human_merge(proposal["id"])
    assert runtime.proposal_sync.sync()[0].after == "pending", "merged but not approved is still pending"
    hub.human_approve("mw-staging", "handler", "bob@example.com")
    assert runtime.proposal_sync.sync()[0].after == "approved"
    assert (await call(client, "proposal_get", proposal_id=proposal["id"]))["state"] == "approved"
    hub.human_apply("mw-staging", "handler")
    synced = cli(runtime, hub, "proposals", "sync")
    assert synced.exit_code == 0 and "approved -> applied" in synced.output, synced.output
    final = await call(client, "proposal_get", proposal_id=proposal["id"])
    assert final["state"] == "applied" and "live revision 2" in final["state_reason"]


async def test_a_restore_naming_the_proposal_is_a_rejection(env, hub) -> None:
    runtime, client = env
    _, proposal = await promote(client)
    hub.human_merge(proposal["id"])
    hub.human_update(
        "mw-staging", "handler", json.dumps(BASE), description=f"restore revision 1: reject {proposal['id']}"
    )
    (result,) = runtime.proposal_sync.sync()
    assert result.after == "rejected" and "revision 3" in result.reason


async def test_a_head_that_moved_without_the_proposal_makes_it_stale(env, hub) -> None:
    runtime, client = env
    _, _proposal = await promote(client)
    hub.human_update(
        "mw-staging", "handler", json.dumps({**BASE, "region": "us-east-1"}), description="unrelated change"
    )
    (result,) = runtime.proposal_sync.sync()
    assert result.after == "stale" and "from base revision 1 to 2" in result.reason
    assert runtime.proposal_sync.sync() == [], "a stale proposal is not read again"


async def test_an_approval_by_the_proposer_does_not_count(env, hub) -> None:
    runtime, client = env
    _, proposal = await promote(client)
    hub.human_merge(proposal["id"])
    hub.human_approve("mw-staging", "handler", proposal["proposer"]["identity"])
    assert runtime.proposal_sync.sync()[0].after == "pending"


async def test_in_place_mode_is_refused_unless_the_approval_trigger_is_confirmed(hub, sqlite_url, clock) -> None:
    refused = confighub_runtime(sqlite_url, clock, hub, mode="in-place")
    with pytest.raises(InvalidInput, match="approval trigger"):
        _ = refused.ctx
    result = CliRunner().invoke(
        cli_app,
        [
            "serve",
            "--db",
            sqlite_url,
            "--agent",
            "agent:pytest-x1",
            "--authority",
            "confighub",
            "--confighub-mode",
            "in-place",
        ],
        env={"CONFIGHUB_URL": hub.url, "CONFIGHUB_TOKEN": hub.token},
    )
    assert result.exit_code == 2 and "--in-place-confirmed-approval-trigger" in result.output


async def test_in_place_mode_writes_a_head_revision_in_the_change_set_once(hub, sqlite_url, clock) -> None:
    runtime = confighub_runtime(sqlite_url, clock, hub, mode="in-place", confirmed=True)
    async with Client(build_server(runtime)) as client:
        _, proposal = await promote(client)
    target = hub.unit("mw-staging", "handler")
    assert proposal["state"] == "pending" and target["HeadRevisionNum"] == 2 and target["LiveRevisionNum"] == 1
    assert target["ChangeSetID"] == proposal["authority"]["change_set_id"]
    (put,) = hub.calls("PUT")
    assert put.query["change_set_id"] == proposal["authority"]["change_set_id"] and put.body["Version"] == 1
    assert hub.units_in("mw-staging-proposals") == []
    # Exporting again (a retry after a lost response) finds the revision and writes nothing.
    (change_set,) = hub.change_sets_in("mw-staging")
    again = runtime.ctx.remote.propose(
        ChangeRequest(
            space="mw-staging",
            unit="handler",
            new_unit=False,
            toolchain_type="AppConfig/JSON",
            data={**BASE, "lambdaMemory": 2048},
            base_revision_num=1,
            base_version=1,
            change_set_slug=change_set["Slug"],
            description=change_set["Description"],
            labels=change_set["Labels"],
            annotations={},
            user_id=proposal["proposer"]["identity"],
        )
    )
    assert again.change_set_id == change_set["ChangeSetID"] and again.unit_id == target["UnitID"]
    assert len(hub.calls("PUT")) == 1 and target["HeadRevisionNum"] == 2 and len(hub.change_sets_in("mw-staging")) == 1
    hub.human_approve("mw-staging", "handler")
    hub.human_apply("mw-staging", "handler")
    assert runtime.proposal_sync.sync()[0].after == "applied"
    runtime.close()


def test_serve_refuses_confighub_without_url_or_token(sqlite_url) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["serve", "--db", sqlite_url, "--agent", "agent:pytest-x1", "--authority", "confighub"],
        env={"CONFIGHUB_URL": "", "CONFIGHUB_TOKEN": ""},
    )
    assert result.exit_code == 2
    assert "CONFIGHUB_URL and CONFIGHUB_TOKEN" in result.output and "cub auth get-token" in result.output


async def test_a_keyed_promotion_is_delivered_once_and_a_repeat_returns_its_answer(env, hub) -> None:
    """The proposal, its export and the key commit together; delivery to ConfigHub happens inside the call."""
    runtime, client = env
    fast, proposal = await promote(client, idempotency_key="promote-1")
    assert proposal["state"] == "pending"
    again = await call(
        client,
        "variant_promote",
        variant_id=fast["id"],
        rationale="faster",
        confidence=0.8,
        idempotency_key="promote-1",
    )
    assert again == proposal
    assert len(hub.change_sets_in("mw-staging")) == 1
    with runtime.ctx.db.read() as session:
        assert len(session.exec(select(Proposal)).all()) == 1
