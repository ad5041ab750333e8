"""What every use case needs: the database, the policy, the clock, and the authority."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from cublab.authority.base import Authority, RemoteAuthority
from cublab.domain.identity import Identity
from cublab.policies import LoadedPolicy
from cublab.store.db import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    db: Database
    policy: LoadedPolicy
    clock: Callable[[], datetime] = field(default=utcnow)
    remote: RemoteAuthority | None = None  # ConfigHub when configured; None means the embedded authority

    def authority(self, session: Session) -> Authority:
        """The authority proposals go to.

        The embedded one shares the caller's transaction. A remote one does not:
        use cases read it before their write transactions and write to it through
        the outbox (app/proposing.py, app/outbox.py), so a proposal is stored
        before it is exported.
        """
        if self.remote is not None:
            return self.remote
        from cublab.authority.embedded import EmbeddedAuthority

        return EmbeddedAuthority(session, self.clock)

    def record(
        self,
        session: Session,
        actor: Identity,
        action: str,
        object_type: str,
        object_id: str,
        *,
        related: dict[str, Any] | None = None,
        explanation: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """The audit event of a mutation, in the mutation's own transaction.

        Every use case records through here, so every event names its actor, and the
        explanation and the actor's identity (an `X-Cublab-Agent` header, `CUBLAB_AGENT`,
        a human's `--as`) pass the secret gate before they can reach the log. A refusal
        here rolls the mutation back with it.
        """
        from cublab.app.guards import refuse_secrets_in_text
        from cublab.domain.errors import InvalidInput
        from cublab.domain.secrets import find_secrets_in_text
        from cublab.store import audit

        flagged = find_secrets_in_text(str(actor))
        if flagged:
            raise InvalidInput(
                f"identity: the identity this call acts as looks like a literal secret ({', '.join(f.kind for f in flagged)}); "
                "name the agent or the person (agent:<type>-<session>, human:<name>), never a credential"
            )
        refuse_secrets_in_text(explanation=explanation)
        audit.append(
            session.connection(),
            at=self.clock(),
            actor=str(actor),
            action=action,
            object_type=object_type,
            object_id=object_id,
            related=related,
            explanation=explanation,
            details=details,
        )
