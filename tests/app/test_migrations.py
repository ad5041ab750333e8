"""The migrations build exactly the schema the tables describe, on SQLite and PostgreSQL, and a new database
built from the models (store/schema.py) is the same database the migrations build."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlmodel import SQLModel

import cublab.store.tables  # noqa: F401  (registers the tables)
from cublab.store.db import SCHEMA_HEAD, Database
from cublab.store.migrations import upgrade
from support.runtime import POSTGRES_ENV, drop_schema, postgres_schema_url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_urls(request, tmp_path):
    """Two new, empty databases of one kind: SQLite files, or fresh PostgreSQL schemas."""
    if request.param == "sqlite":
        yield str(tmp_path / "a.db"), str(tmp_path / "b.db")
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL variant not run")
    (a, schema_a), (b, schema_b) = postgres_schema_url(base), postgres_schema_url(base)
    yield a, b
    drop_schema(base, schema_a)
    drop_schema(base, schema_b)


def migrated(url: str) -> Database:
    """A database brought to the head by replaying every migration, as an existing database is."""
    db = Database(url)
    with db.engine.connect() as conn:
        conn = conn.execution_options(cublab_write=True)
        with conn.begin():
            upgrade(conn)
    return db


def test_migrated_schema_matches_the_models(empty_db_urls) -> None:
    db = migrated(empty_db_urls[0])
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    db.dispose()
    assert diff == [], f"the tables and the migrations disagree; write a migration: {diff}"


def _described(conn: Connection) -> dict:
    """Everything a schema is made of, as the database reports it, and the rows the migrations seed."""
    insp = inspect(conn)
    tables = {}
    for name in sorted(insp.get_table_names()):
        tables[name] = {
            "columns": {  # by name: columns a migration added come last, which changes nothing
                c["name"]: (str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                for c in insp.get_columns(name)
            },
            "pk": insp.get_pk_constraint(name)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(name)
            ),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(name)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(name)),
            "checks": sorted(c["sqltext"] for c in insp.get_check_constraints(name)),
        }
    seeded = {
        "audit_head": conn.execute(text("SELECT id, seq, hash FROM audit_head")).all(),
        "alembic_version": conn.execute(text("SELECT version_num FROM alembic_version")).all(),
    }
    return {"tables": tables, "seeded": seeded}


def test_a_new_database_built_from_the_models_is_the_migrated_one(empty_db_urls) -> None:
    replayed = migrated(empty_db_urls[0])
    built = Database(empty_db_urls[1])
    built.migrate()  # empty: built from the models, without alembic
    with replayed.engine.connect() as a, built.engine.connect() as b:
        expected, got = _described(a), _described(b)
        if replayed.is_sqlite:  # 0007 drops the owner's backfill default, except on SQLite, which cannot
            owner = expected["tables"]["experiment"]["columns"]["owner"]
            assert owner[2] == "''"
            expected["tables"]["experiment"]["columns"]["owner"] = (owner[0], owner[1], None, owner[3])
        assert got == expected
        assert got["seeded"]["alembic_version"] == [(SCHEMA_HEAD,)]
    replayed.dispose()
    built.dispose()


def test_a_database_built_from_the_models_takes_later_migrations_and_is_left_alone_at_the_head(
    empty_db_urls,
) -> None:
    db = Database(empty_db_urls[0])
    db.migrate()
    assert db.schema_version() == SCHEMA_HEAD
    db.migrate()  # at the head: nothing to do
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_head")).scalar() == 1
    db.dispose()
