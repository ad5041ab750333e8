"""The audit log as tests see it: its rows, a few events to tamper with, and tampering with the file."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from support.mcp import call


def events(rt) -> list[dict]:
    with rt.ctx.db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM audit_event ORDER BY seq")).mappings()]


async def populated(client, n: int = 8) -> None:
    """A few events to tamper with: 1 spawn + 1 experiment + variants + results."""
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    for k in range(n - 2):
        await call(
            client, "variant_log", experiment_id=exp["id"], name=f"v{k}", config={"k": k}, explanation=f"try {k}"
        )


def tamper(db: str, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            assert conn.execute(statement).rowcount >= 1, statement
