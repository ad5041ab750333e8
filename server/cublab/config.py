"""Where things are and who is acting, from flags and environment.

Flags win over the environment (`CUBLAB_DB`, `CUBLAB_AGENT`, `CUBLAB_POLICY`);
the database defaults to a SQLite file in the user's data directory.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path


def default_db_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("cublab", appauthor=False)) / "cublab.db"


@dataclass(frozen=True)
class Settings:
    db: str
    agent: str
    policy_path: str | None

    @classmethod
    def resolve(cls, db: str | None = None, agent: str | None = None, policy: str | None = None) -> Settings:
        db = db or os.environ.get("CUBLAB_DB") or str(default_db_path())
        agent = agent or os.environ.get("CUBLAB_AGENT")
        if not agent:
            agent = f"agent:unidentified-{secrets.token_hex(4)}"
            print(f"cublab: no --agent or CUBLAB_AGENT given; acting as {agent}", file=sys.stderr)
        return cls(db=db, agent=agent, policy_path=policy or os.environ.get("CUBLAB_POLICY"))
