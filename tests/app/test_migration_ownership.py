"""Migration 0007 on a database with history: sandbox owners become principals, experiments
get their sandbox's owner, and open production proposals need signed decisions, as new ones
do. Down to 0005 and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command

from cublab.domain.identity import human_identity
from cublab.store.migrations import config
from support.mcp import call, finished_experiment

pytestmark = pytest.mark.anyio

BASE = {"lambdaMemory": 512, "region": "eu-west-1"}


def migrate(runtime, target: str) -> None:
    with runtime.ctx.db.engine.connect() as conn, conn.begin():
        (command.upgrade if target == "head" else command.downgrade)(config(conn), target)


async def test_0007_backfills_owners_and_signed_decisions(any_client, any_runtime) -> None:
    admin = human_identity("human:admin")
    any_runtime.review.import_unit("mw-prod", "handler", BASE, admin, tier="production")
    any_runtime.review.import_unit("mw-staging", "handler", BASE, admin, tier="staging")
    ids = {}
    for space in ("mw-prod", "mw-staging"):
        exp, (_, fast) = await finished_experiment(any_client, space, "handler", BASE)
        proposal = await call(any_client, "variant_promote", variant_id=fast["id"], rationale="r", confidence=0.5)
        ids[space] = (exp["sandbox_id"], exp["id"], proposal["id"])

    migrate(any_runtime, "0005")
    with any_runtime.ctx.db.engine.begin() as conn:  # as 0005 left them: full identities, no signed flag
        conn.execute(sa.text("UPDATE sandbox SET owner = 'agent:Pytest-Session1'"))
        for pid, requirement in conn.execute(sa.text("SELECT id, requirement FROM proposal")).all():
            requirement = json.loads(requirement) if isinstance(requirement, str) else requirement
            requirement.pop("signed")
            conn.execute(
                sa.text("UPDATE proposal SET requirement = :r WHERE id = :id"),
                {"r": json.dumps(requirement), "id": pid},
            )
    migrate(any_runtime, "head")

    with any_runtime.ctx.db.engine.connect() as conn:
        assert set(conn.execute(sa.text("SELECT owner FROM sandbox")).scalars()) == {"agent:pytest"}
        assert set(conn.execute(sa.text("SELECT owner FROM experiment")).scalars()) == {"agent:pytest"}
        rows = dict(conn.execute(sa.text("SELECT id, requirement FROM proposal")).all())
    signed = {pid: (json.loads(r) if isinstance(r, str) else r)["signed"] for pid, r in rows.items()}
    assert signed == {ids["mw-prod"][2]: True, ids["mw-staging"][2]: False}
    view = await call(any_client, "proposal_get", proposal_id=ids["mw-prod"][2])
    assert view["requirement"]["signed"] is True
