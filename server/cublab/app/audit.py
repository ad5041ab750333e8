"""The audit log's integrity, for humans: verify it, see where its key and witness are, seal a pre-key log.

Whoever can write the database can rewrite the hash chain; they cannot make a MAC
or sign a checkpoint without the audit key, which is kept outside the database.
docs/threat-model.md says what this does and does not detect.
"""

from __future__ import annotations

from cublab.app.context import AppContext
from cublab.app.outputs import AuditCheck, AuditKeyInfo, AuditSeal
from cublab.domain.errors import Conflict, Forbidden
from cublab.domain.identity import Identity
from cublab.store import audit
from cublab.store.audit_key import AuditKey, Witness


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
            key=self.key_info(),
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
