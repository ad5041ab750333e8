"""What every use case needs: the database, the policy, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session

from cublab.authority.base import Authority
from cublab.policies import LoadedPolicy
from cublab.store.db import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    db: Database
    policy: LoadedPolicy
    clock: Callable[[], datetime] = field(default=utcnow)

    def authority(self, session: Session) -> Authority:
        """The authority proposals go to; the embedded one shares the caller's transaction."""
        from cublab.authority.embedded import EmbeddedAuthority

        return EmbeddedAuthority(session, self.clock)
