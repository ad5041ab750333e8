"""Runtimes and databases for tests: the acting agent, a runtime on a database, fresh PostgreSQL schemas."""

from __future__ import annotations

import secrets

from cublab.config import Settings
from cublab.runtime import Runtime
from support.clock import Clock

POSTGRES_ENV = "CUBLAB_TEST_POSTGRES_URL"
AGENT = "agent:pytest-session1"
AGENT_PRINCIPAL = "agent:pytest"  # who owns what AGENT creates: the identity without its session
AUDIT_KEY_FILE_ENV = "CUBLAB_AUDIT_KEY_FILE"  # conftest.py points it at a temporary key for the whole run


def environ_without_settings() -> dict[str, str]:
    """Our environment without CUBLAB_* settings, so only the flags a test passes count.

    The run's audit key stays: a child process that made its own would write events
    the test's runtime cannot authenticate, and would write into the user's config dir.
    """
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CUBLAB_") or k == AUDIT_KEY_FILE_ENV}


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


def migrate(runtime: Runtime, target: str) -> None:
    """Move the runtime's database to a schema revision ("head", or an older one to build a database of that age)."""
    from alembic import command

    from cublab.store.migrations import config

    with runtime.ctx.db.engine.connect() as conn, conn.begin():
        (command.upgrade if target == "head" else command.downgrade)(config(conn), target)
