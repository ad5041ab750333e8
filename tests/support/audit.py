"""The audit log as tests see it: its rows, a few events to tamper with, and tampering with the file."""

from __future__ import annotations

import json
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
            client,
            "variant_log",
            experiment_id=exp["id"],
            name=f"v{k}",
            configuration=json.dumps({"k": k}),
            explanation=f"try {k}",
        )


def tamper(db: str, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            assert conn.execute(statement).rowcount >= 1, statement


class LogWriter:
    """Someone who can write the database but does not hold the audit key.

    Works through SQL on the engine (SQLite and PostgreSQL alike), knows everything
    cublab's code knows (how hashes are made, where the head is) except the key,
    and never touches the witness file.
    """

    def __init__(self, engine: sa.Engine) -> None:
        from cublab.store.tables import AuditEvent, AuditHead

        self.engine = engine
        self.events = AuditEvent.__table__
        self.head = AuditHead.__table__

    def rows(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(self.events).order_by(self.events.c.seq)).mappings()]

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the log with `rows`, renumbered and re-chained from the start, the head moved to match."""
        from cublab.store.audit import GENESIS, event_hash

        prev = GENESIS
        for seq, row in enumerate(rows, start=1):
            row.update(seq=seq, prev_hash=prev)
            row["hash"] = event_hash(row)
            prev = row["hash"]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.events))
            if rows:
                conn.execute(sa.insert(self.events), rows)
            conn.execute(sa.update(self.head).where(self.head.c.id == 1).values(seq=len(rows), hash=prev))

    def append(self, **fields) -> dict:
        """A new event after the last one, correctly chained (no MAC unless `mac=` is given)."""
        rows = self.rows()
        last = rows[-1]
        event = {**last, "mac": None, **fields}
        self.rewrite([*rows, event])
        return event

    def execute(self, statement, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(statement if not isinstance(statement, str) else sa.text(statement), params)
