"""Data for the review console's tests: a unit in a staging space and a pending MEDIUM proposal into it,
made through an MCP client as an agent would; and a logged-in TestClient for the console app."""

from __future__ import annotations

import re
from typing import Any

from mcp import Client

from cublab.domain.identity import human_identity
from support.mcp import call, finished_experiment

SPACE, UNIT = "mw-staging", "handler"
BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs", "region": "eu-west-1"}
# Three variants; the last wins clearly by moving the region, which makes the proposal MEDIUM (an acknowledgment).
CHANGES = ({"lambdaMemory": 1024}, {"lambdaMemory": 2048}, {"region": "eu-central-1"})
MEANS = (200.0, 170.0, 120.0)
OPERATOR = human_identity("human:operator")


def seed_unit(runtime: Any) -> None:
    """A human imports the unit the agent will propose to change (tier staging: decisions are not signed)."""
    runtime.review.import_unit(SPACE, UNIT, BASE, OPERATOR, tier="staging")


async def pending_proposal(client: Client, **promote: Any) -> tuple[dict, list[dict], dict]:
    """A finished experiment with three variants and the proposal of its winner: (experiment, variants, proposal)."""
    experiment, variants = await finished_experiment(client, SPACE, UNIT, BASE, CHANGES, MEANS)
    proposal = await call(
        client,
        "variant_promote",
        variant_id=variants[-1]["id"],
        rationale="eu-central-1, beside the queue, cut p95 by 40% in 10 runs per variant",
        confidence=0.8,
        model="test-model",
        **promote,
    )
    return experiment, variants, proposal


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
