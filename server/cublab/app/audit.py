"""Checking the audit chain: whoever holds the database file could edit it, so humans verify it."""

from __future__ import annotations

from cublab.app.context import AppContext
from cublab.app.outputs import AuditCheck
from cublab.store import audit


class Audit:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def verify(self) -> AuditCheck:
        """Walk the whole chain; name every event that was edited, deleted or forged."""
        with self.ctx.db.engine.connect() as conn:
            result = audit.verify(conn)
        return AuditCheck(
            ok=result.ok,
            events=result.events,
            problems=[str(p) for p in result.problems],
            database=self.ctx.db.location,
        )
