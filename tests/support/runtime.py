"""Runtimes and databases for tests: the acting agent, a runtime on a database, fresh PostgreSQL schemas."""

from __future__ import annotations

import secrets

from cublab.config import Settings
from cublab.runtime import Runtime
from support.clock import Clock

POSTGRES_ENV = "CUBLAB_TEST_POSTGRES_URL"
AGENT = "agent:pytest-session1"


def make_runtime(db: str, clock: Clock | None = None, agent: str = AGENT) -> Runtime:
    return Runtime(Settings(db=db, agent=agent, policy_path=None), clock=clock)


def postgres_schema_url(base: str) -> tuple[str, str]:
    """A fresh schema on the test server, so runs never see each other's rows."""
    import sqlalchemy as sa

    from cublab.store.db import database_url

    schema = f"cublab_t_{secrets.token_hex(6)}"
    engine = sa.create_engine(database_url(base))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    import sqlalchemy as sa

    from cublab.store.db import database_url

    engine = sa.create_engine(database_url(base))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
