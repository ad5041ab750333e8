"""The migrations build exactly the schema the tables describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import cublab.store.tables  # noqa: F401  (registers the tables)
from cublab.store.db import Database


def test_migrated_schema_matches_the_models(db_url) -> None:
    db = Database(db_url)
    db.migrate()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    db.dispose()
    assert diff == [], f"the tables and the migrations disagree; write a migration: {diff}"
