"""One contract, two authorities: the embedded one and ConfigHub over HTTP (against the local fake).

The same calls give the same results: reading spaces and heads, a proposal that
leaves the head where it was, promoting again without a second change set, a
new unit, and a break-glass capture tagged and described the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from mcp import Client
from sqlmodel import select

from cublab.domain.errors import NotFound
from cublab.domain.identity import human_identity
from cublab.mcp_server import build_server
from cublab.store.tables import ChangeSet, Revision
from support.confighub_fake import (
    BASE,
    FakeConfigHub,
    confighub_runtime,
    finished_experiment,
    seed_confighub,
)
from support.mcp import call
from support.runtime import make_runtime

pytestmark = pytest.mark.anyio
ALICE = human_identity("human:alice")


class Backend:
    """What a contract test needs from either authority, read from the authority's own records."""

    def __init__(self, kind: str, runtime: Any, fake: FakeConfigHub | None) -> None:
        self.kind, self.runtime, self.fake = kind, runtime, fake

    def seed(self, space: str, unit: str, data: dict, tier: str) -> None:
        if self.fake is None:
            self.runtime.review.import_unit(space, unit, data, ALICE, tier=tier)
        else:
            seed_confighub(self.fake, space, unit, data, tier)

    def authority(self, session):
        return self.runtime.ctx.authority(session)

    def head(self, space: str, unit: str):
        with self.runtime.ctx.db.read() as session:
            return self.authority(session).get_head(space, unit)

    def change_sets(self, slug: str) -> list[dict[str, Any]]:
        if self.fake is None:
            with self.runtime.ctx.db.read() as session:
                return [
                    {"Slug": c.slug, "Labels": c.labels}
                    for c in session.exec(select(ChangeSet).where(ChangeSet.slug == slug)).all()
                ]
        return [c for c in self.fake.state.change_sets.values() if c["Slug"] == slug]

    def proposed(self, proposal: dict) -> tuple[dict, set[str], str]:
        """(data, tags, description) of what the proposal put into the authority."""
        if self.fake is None:
            with self.runtime.ctx.db.read() as session:
                rev = session.get(Revision, proposal["authority"]["revision_id"])
                return json.loads(rev.data), set(rev.tags), rev.description
        unit = next(u for u in self.fake.state.units.values() if u["Labels"].get("proposal-id") == proposal["id"])
        from cublab.authority.confighub import decode_data

        return decode_data(unit["Data"]), self.fake.tags_of(unit), unit["LastChangeDescription"]


@pytest.fixture(params=["embedded", "confighub"])
async def backend(request, sqlite_url, clock, fake):
    if request.param == "embedded":
        runtime = make_runtime(sqlite_url, clock)
        hub = None
    else:
        fake.reset()
        runtime = confighub_runtime(sqlite_url, clock, fake)
        hub = fake
    b = Backend(request.param, runtime, hub)
    async with Client(build_server(runtime)) as client:
        b.client = client
        yield b
    runtime.close()


async def test_get_space_reads_slug_and_tier(backend) -> None:
    backend.seed("mw-prod", "handler", BASE, "production")
    with backend.runtime.ctx.db.read() as session:
        space = backend.authority(session).get_space("mw-prod")
        assert (space.slug, space.labels.get("tier")) == ("mw-prod", "production")
        assert backend.authority(session).get_space("nope") is None


async def test_get_head_reads_data_revision_and_version(backend) -> None:
    backend.seed("mw-staging", "handler", BASE, "staging")
    head = backend.head("mw-staging", "handler")
    assert head.data == BASE and head.head_revision_num == 1 and head.version >= 1
    assert backend.head("mw-staging", "missing") is None
    with pytest.raises(NotFound):
        backend.head("no-such-space", "handler")


async def test_a_proposal_lands_in_one_change_set_and_the_head_does_not_move(backend) -> None:
    backend.seed("mw-staging", "handler", BASE, "staging")
    before = backend.head("mw-staging", "handler")
    _, (_, fast) = await finished_experiment(backend.client, "mw-staging", "handler")
    proposal = await call(backend.client, "variant_promote", variant_id=fast["id"], rationale="faster", confidence=0.8)
    assert proposal["state"] == "pending" and proposal["authority"]["name"] == backend.kind
    assert proposal["patch"] == [{"op": "replace", "path": "/lambdaMemory", "value": 2048}]
    assert proposal["target"]["base_revision_num"] == 1
    after = backend.head("mw-staging", "handler")
    assert (after.data, after.head_revision_num) == (before.data, before.head_revision_num), (
        "a proposal must not move the head"
    )
    sets = backend.change_sets(f"proposal-{proposal['id']}")
    assert len(sets) == 1
    assert sets[0]["Labels"]["proposal-id"] == proposal["id"] and sets[0]["Labels"]["variant-id"] == fast["id"]
    assert (
        sets[0]["Labels"]["proposer-type"] == "agent" and sets[0]["Labels"]["risk-class"] == proposal["risk"]["level"]
    )
    data, tags, _ = backend.proposed(proposal)
    assert data == fast["config"] and tags == set()


async def test_promoting_again_returns_the_same_proposal_and_no_second_change_set(backend) -> None:
    backend.seed("mw-staging", "handler", BASE, "staging")
    _, (_, fast) = await finished_experiment(backend.client, "mw-staging", "handler")
    first = await call(backend.client, "variant_promote", variant_id=fast["id"], rationale="faster", confidence=0.8)
    again = await call(backend.client, "variant_promote", variant_id=fast["id"], rationale="faster", confidence=0.8)
    assert again["id"] == first["id"] and again["promoted_again"] is True
    assert len(backend.change_sets(f"proposal-{first['id']}")) == 1


async def test_a_new_unit_is_proposed_without_creating_it(backend) -> None:
    backend.seed("mw-staging", "handler", BASE, "staging")
    _, (_, fast) = await finished_experiment(backend.client, "mw-staging", "worker")
    proposal = await call(
        backend.client, "variant_promote", variant_id=fast["id"], rationale="new worker", confidence=0.7, new_unit=True
    )
    assert (
        proposal["state"] == "pending"
        and proposal["target"]["new_unit"] is True
        and proposal["target"]["base_revision_num"] is None
    )
    assert backend.head("mw-staging", "worker") is None, "a proposed new unit does not exist until a human applies it"
    assert len(backend.change_sets(f"proposal-{proposal['id']}")) == 1
    assert backend.proposed(proposal)[0] == fast["config"]


async def test_break_glass_capture_is_tagged_and_names_incident_and_time(backend) -> None:
    backend.seed("mw-prod", "handler", BASE, "production")
    await call(
        backend.client, "breakglass_declare", incident_id="INC-7", reason="OOM under load", units=["mw-prod/handler"]
    )
    live = {**BASE, "lambdaMemory": 4096}
    result = await call(
        backend.client, "breakglass_capture", incident_id="INC-7", unit="mw-prod/handler", live_state=json.dumps(live)
    )
    proposal = result["proposal"]
    assert result["drift"] is True and proposal["state"] == "pending"
    data, tags, description = backend.proposed(proposal)
    assert data == live and "break-glass" in tags
    assert re.fullmatch(
        r"break-glass \(INC-7\): captured live state at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", description
    ), description
    assert backend.head("mw-prod", "handler").data == BASE
    assert len(backend.change_sets("break-glass-INC-7")) == 1
