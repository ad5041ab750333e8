"""Faults between cublab and ConfigHub: 401, 403, 409, 500, timeouts, a refused connection,
a server that dies mid-export, two flushers at once. Afterwards, once the fake is
back and the outbox is flushed: exactly one ChangeSet and one shadow unit per
proposal, none lost, and never an approve or apply call.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from mcp import Client

from cublab.mcp_server import build_server
from cublab.store.tables import AuthorityExport
from support.confighub_fake import (
    BASE,
    Fault,
    confighub_runtime,
    finished_experiment,
)
from support.mcp import call

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(hub, sqlite_url, clock):
    runtime = confighub_runtime(sqlite_url, clock, hub, timeout=0.3)
    async with Client(build_server(runtime)) as client:
        yield runtime, client
    runtime.close()


async def promote(client):
    _, (_, fast) = await finished_experiment(client, "mw-staging", "handler")
    return await call(client, "variant_promote", variant_id=fast["id"], rationale="faster", confidence=0.8)


def export_of(runtime, proposal_id):
    with runtime.ctx.db.read() as session:
        return session.get(AuthorityExport, proposal_id)


def exactly_one_each(hub, proposal_id):
    sets = [c for c in hub.change_sets_in("mw-staging") if c["Slug"] == f"proposal-{proposal_id}"]
    units = [u for u in hub.units_in("mw-staging-proposals") if u["Labels"]["proposal-id"] == proposal_id]
    assert (len(sets), len(units)) == (1, 1), f"{len(sets)} change sets and {len(units)} shadow units for {proposal_id}"
    return sets[0], units[0]


async def test_a_500_queues_the_proposal_and_a_flush_delivers_it_once(env, hub) -> None:
    runtime, client = env
    hub.faults.append(Fault("POST", r"/unit$", status=500))
    proposal = await promote(client)
    assert proposal["state"] == "queued" and "500" in proposal["state_reason"] and "outbox" in proposal["state_reason"]
    assert export_of(runtime, proposal["id"]).status == "queued"
    (delivery,) = runtime.outbox.flush()
    assert delivery.outcome == "delivered"
    change_set, _ = exactly_one_each(hub, proposal["id"])
    got = await call(client, "proposal_get", proposal_id=proposal["id"])
    assert got["state"] == "pending" and got["authority"]["change_set_id"] == change_set["ChangeSetID"]
    assert runtime.outbox.flush() == [], "nothing is delivered twice"


async def test_a_timeout_after_the_unit_was_created_does_not_create_a_second_one(env, hub) -> None:
    runtime, client = env
    hub.faults.append(Fault("POST", r"/unit$", delay=1.0, delay_after=True))
    proposal = await promote(client)
    assert proposal["state"] == "queued" and "timed out" in proposal["state_reason"]
    assert len(hub.units_in("mw-staging-proposals")) == 1, "the lost response's unit exists"
    assert runtime.outbox.flush()[0].outcome == "delivered"
    exactly_one_each(hub, proposal["id"])
    assert len(hub.calls("POST", r"/unit$")) == 1, "the retry found the unit by its proposal-id label"


async def test_a_refused_connection_queues_with_a_provisional_patch_recomputed_at_delivery(env, hub) -> None:
    runtime, client = env
    hub.stop()
    proposal = await promote(client)
    assert proposal["state"] == "queued" and "unreachable" in proposal["state_reason"]
    assert "provisional" in proposal["state_reason"] and proposal["risk"]["level"] in ("MEDIUM", "HIGH")
    assert runtime.outbox.flush()[0].outcome == "queued", "still down: still queued"
    hub.start()
    assert runtime.outbox.flush()[0].outcome == "delivered"
    got = await call(client, "proposal_get", proposal_id=proposal["id"])
    assert got["state"] == "pending" and got["target"]["base_revision_num"] == 1
    assert got["patch"] == [{"op": "replace", "path": "/lambdaMemory", "value": 2048}], (
        "the patch is computed against the real head"
    )
    exactly_one_each(hub, proposal["id"])


async def test_a_server_dying_after_the_change_set_loses_nothing_and_duplicates_nothing(env, hub) -> None:
    runtime, client = env
    hub.faults.append(Fault("POST", r"/change_set$", die=True))
    proposal = await promote(client)
    assert proposal["state"] == "queued"
    hub.wait_dead()
    assert len(hub.change_sets_in("mw-staging")) == 1 and hub.units_in("mw-staging-proposals") == []
    hub.start()
    assert runtime.outbox.flush()[0].outcome == "delivered"
    exactly_one_each(hub, proposal["id"])
    assert len(hub.calls("POST", r"/change_set$")) == 1


@pytest.mark.parametrize("status, check", [(401, "CONFIGHUB_TOKEN"), (403, "permissions")])
async def test_auth_failures_are_held_with_what_to_check_and_not_retried_blindly(env, hub, status, check) -> None:
    runtime, client = env
    hub.faults.append(Fault("POST", r"/change_set$", status=status))
    proposal = await promote(client)
    assert (
        proposal["state"] == "queued"
        and check in proposal["state_reason"]
        and "--retry-held" in proposal["state_reason"]
    )
    assert export_of(runtime, proposal["id"]).status == "held"
    before = len(hub.requests)
    assert runtime.outbox.flush() == [] and len(hub.requests) == before, "a held export is not retried by a plain flush"
    assert runtime.outbox.flush(retry_held=True)[0].outcome == "delivered"
    exactly_one_each(hub, proposal["id"])


async def test_a_wrong_token_is_refused_before_any_write(hub, sqlite_url, clock) -> None:
    runtime = confighub_runtime(sqlite_url, clock, hub, token="wrong-token", timeout=0.3)
    async with Client(build_server(runtime)) as client:
        proposal = await promote(client)
    assert (
        proposal["state"] == "queued"
        and "401" in proposal["state_reason"]
        and "cub auth get-token" in proposal["state_reason"]
    )
    assert export_of(runtime, proposal["id"]).status == "held"
    assert hub.change_sets_in("mw-staging") == [] and all(r.method == "GET" for r in hub.calls())
    runtime.close()
    fixed = confighub_runtime(sqlite_url, clock, hub, timeout=0.3)
    assert fixed.outbox.flush(retry_held=True)[0].outcome == "delivered"
    exactly_one_each(hub, proposal["id"])
    fixed.close()


async def test_a_409_on_a_stale_version_makes_the_proposal_stale(hub, sqlite_url, clock) -> None:
    runtime = confighub_runtime(sqlite_url, clock, hub, timeout=0.3, mode="in-place", confirmed=True)
    hub.faults.append(Fault("PUT", r"/unit/", status=409))
    async with Client(build_server(runtime)) as client:
        proposal = await promote(client)
    assert proposal["state"] == "stale" and "409" in proposal["state_reason"]
    assert export_of(runtime, proposal["id"]).status == "stale"
    assert hub.unit("mw-staging", "handler")["HeadRevisionNum"] == 1
    assert runtime.outbox.flush() == []
    runtime.close()


async def test_two_flushers_deliver_a_proposal_once(env, hub) -> None:
    runtime, client = env
    hub.stop()
    proposal = await promote(client)
    hub.start()
    hub.faults.append(Fault("GET", r"^/space$", delay=0.1, times=2))  # widen the race window
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(runtime.outbox.deliver(proposal["id"]))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.outcome for r in results) == ["delivered", "skipped"]
    exactly_one_each(hub, proposal["id"])


async def test_the_servers_periodic_flush_delivers_queued_proposals(env, hub) -> None:
    runtime, client = env
    hub.stop()
    proposal = await promote(client)
    hub.start()
    stop = runtime.start_outbox_flusher(interval=0.05)
    try:
        deadline = time.monotonic() + 5
        while export_of(runtime, proposal["id"]).status != "delivered" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop()
    assert export_of(runtime, proposal["id"]).status == "delivered"
    exactly_one_each(hub, proposal["id"])


async def test_break_glass_capture_is_queued_when_the_export_fails_and_delivered_later(env, hub) -> None:
    runtime, client = env
    await call(client, "breakglass_declare", incident_id="INC-9", reason="OOM", units=["mw-staging/handler"])
    hub.faults.append(Fault("POST", r"/unit$", status=503))
    result = await call(
        client,
        "breakglass_capture",
        incident_id="INC-9",
        unit="mw-staging/handler",
        live_state=json.dumps({**BASE, "lambdaMemory": 4096}),
    )
    assert result["obligation"]["status"] == "met" and result["proposal"]["state"] == "queued"
    assert runtime.outbox.flush()[0].outcome == "delivered"
    (unit,) = hub.units_in("mw-staging-proposals")
    assert "break-glass" in hub.tags_of(unit) and unit["LastChangeDescription"].startswith(
        "break-glass (INC-9): captured live state at "
    )


async def test_break_glass_capture_while_confighub_is_down_is_queued_and_meets_the_obligation(env, hub) -> None:
    """ConfigHub down is a reason to break glass: the capture must still be recorded, and delivered later."""
    runtime, client = env
    await call(
        client,
        "breakglass_declare",
        incident_id="INC-10",
        reason="ConfigHub unreachable during an outage",
        units=["mw-staging/handler"],
    )
    hub.stop()
    result = await call(
        client,
        "breakglass_capture",
        incident_id="INC-10",
        unit="mw-staging/handler",
        live_state=json.dumps({**BASE, "lambdaMemory": 4096}),
    )
    assert result["obligation"]["status"] == "met" and result["proposal"]["state"] == "queued"
    assert "unreachable" in result["proposal"]["state_reason"]
    hub.start()
    (delivery,) = runtime.outbox.flush()
    assert delivery.outcome == "delivered", delivery.message
    got = await call(client, "proposal_get", proposal_id=result["proposal"]["id"])
    assert got["state"] == "pending" and got["target"]["base_revision_num"] == 1
    assert got["patch"] == [{"op": "replace", "path": "/lambdaMemory", "value": 4096}], (
        "recomputed against the real head"
    )
    (unit,) = hub.units_in("mw-staging-proposals")
    assert "break-glass" in hub.tags_of(unit)
