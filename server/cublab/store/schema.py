"""A new database, built from the models in one step instead of by replaying every migration.

Replaying the migrations means importing alembic and running each revision's DDL, most of the
first tool call of a new `cublab serve`. For an empty database the result is known: the tables
as the models describe them (tests/app/test_migrations.py checks the migrations build exactly
that), the rows the migrations seed, and alembic's version table at SCHEMA_HEAD, so later
migrations apply to it as to any other. A database holding any table takes the migrations.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, PrimaryKeyConstraint, String, Table, insert, inspect


def is_empty(conn: Connection) -> bool:
    return not inspect(conn).get_table_names()


def create(conn: Connection, head: str) -> None:
    """Create every table, seed what the migrations seed, and stamp `head`, in the caller's transaction."""
    from sqlmodel import SQLModel

    from cublab.store.audit import GENESIS
    from cublab.store.tables import AuditHead, table_of

    SQLModel.metadata.create_all(conn, checkfirst=False)  # the caller saw it empty, under the migration lock
    conn.execute(insert(table_of(AuditHead)), {"id": 1, "seq": 0, "hash": GENESIS})  # 0001: the chain's genesis
    # The table alembic keeps its revision in, as alembic itself defines it.
    version = Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    version.create(conn)
    conn.execute(insert(version), {"version_num": head})
