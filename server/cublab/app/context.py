"""What every use case needs: the database, the policy, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cublab.policies import LoadedPolicy
from cublab.store.db import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    db: Database
    policy: LoadedPolicy
    clock: Callable[[], datetime] = field(default=utcnow)
