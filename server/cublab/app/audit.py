"""The audit log's integrity, for humans: verify it, see where its key and witness are, seal a pre-key log.

Whoever can write the database can rewrite the hash chain; they cannot make a MAC
or sign a checkpoint without the audit key, which is kept outside the database.
docs/threat-model.md says what this does and does not detect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cublab.app.context import AppContext
from cublab.app.outputs import AuditCheck, AuditKeyInfo, AuditSeal
from cublab.app.read_models import AuditEventView, AuditLogPage, AuditQuery
from cublab.domain.errors import Conflict, Forbidden, NotFound
from cublab.domain.identity import Identity, fold_identity
from cublab.store import audit
from cublab.store.audit_key import AuditKey, Witness
from cublab.store.tables import AuditEvent, table_of

_events = table_of(AuditEvent)


class Audit:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _key(self) -> tuple[AuditKey, Witness]:
        if self.ctx.audit_key is None or self.ctx.witness is None:
            raise Conflict("audit: no audit key is loaded, so the log cannot be authenticated")
        return self.ctx.audit_key, self.ctx.witness

    def key_info(self) -> AuditKeyInfo:
        key, witness = self._key()
        return AuditKeyInfo(
            key_source=key.source,
            witness=str(witness.path),
            public_key=key.public_key_text(),
            database=self.ctx.db.location,
        )

    def verify(self) -> AuditCheck:
        """Every event's hash, link and MAC, and every witness checkpoint against the log; each problem named."""
        key, witness = self._key()
        with self.ctx.db.engine.connect() as conn:
            result = audit.verify(conn, key, witness)
        return AuditCheck(
            ok=result.ok,
            events=result.events,
            problems=[str(p) for p in result.problems],
            database=self.ctx.db.location,
            authenticated=result.authenticated,
            checkpoints=result.checkpoints,
            witnessed=result.witnessed,
            first_broken=min((p.seq for p in result.problems if p.seq > 0), default=None),
            key=self.key_info(),
        )

    def log(self, query: AuditQuery) -> AuditLogPage:
        """A page of events, newest first, matching every filter given; each says whether it checks out alone
        (its hash, and its MAC with the key). The chain as a whole is `verify`'s."""
        e = _events.c
        where: list[Any] = []
        if query.actor:
            where.append(e.actor == fold_identity(query.actor))
        if query.object_type:
            where.append(e.object_type == query.object_type)
        if query.object_id:
            where.append(e.object_id == query.object_id)
        if query.action:
            if query.action.endswith("."):
                where.append(e.action.startswith(query.action, autoescape=True))
            else:
                where.append(e.action == query.action)
        # `at` is stored as fixed-width UTC text (store.audit.iso), so text order is time order.
        if query.since:
            where.append(e.at >= audit.iso(query.since))
        if query.until:
            where.append(e.at < audit.iso(query.until))
        if query.before:
            where.append(e.seq < query.before)
        with self.ctx.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(_events).where(*where).order_by(e.seq.desc()).limit(query.limit + 1)
            ).mappings()
            found = [dict(r) for r in rows]
        page = found[: query.limit]
        return AuditLogPage(
            events=[self._event_view(r) for r in page],
            next_before=page[-1]["seq"] if len(found) > query.limit else None,
        )

    def event(self, seq: int) -> AuditEventView:
        """One event by its sequence number."""
        with self.ctx.db.engine.connect() as conn:
            row = conn.execute(sa.select(_events).where(_events.c.seq == seq)).mappings().one_or_none()
        if row is None:
            raise NotFound(f"seq: the audit log has no event {seq}")
        return self._event_view(dict(row))

    def _event_view(self, row: dict[str, Any]) -> AuditEventView:
        key = self.ctx.audit_key
        intact = audit.event_hash(row) == row["hash"] and (key is None or key.mac_ok(row["hash"], row["mac"]))
        return AuditEventView(
            seq=row["seq"],
            at=datetime.fromisoformat(row["at"].replace("Z", "+00:00")),
            actor=row["actor"],
            action=row["action"],
            object_type=row["object_type"],
            object_id=row["object_id"],
            related=row["related"] or {},
            explanation=row["explanation"],
            details=row["details"] or {},
            hash=row["hash"],
            intact=intact,
        )

    def seal(self, who: Identity) -> AuditSeal:
        """Authenticate the events written before the audit key existed; a human vouches for them, in the log."""
        if not who.is_human:
            raise Forbidden(f"as: sealing the audit log is for humans; {who} is not a human identity (human:<name>)")
        key, witness = self._key()
        with self.ctx.db.write() as session:
            link = audit.seal(session.connection(), key, witness)
            if link is not None:
                self.ctx.record(
                    session,
                    who,
                    "audit.seal",
                    "audit",
                    "chain",
                    explanation=f"authenticated events 1-{link.seq}, written before the audit key existed",
                    details={"through_seq": link.seq, "through_hash": link.hash, "public_key": key.public_key_text()},
                )
        return AuditSeal(sealed=link.seq if link else 0, through=link.seq if link else None, key=self.key_info())
