"""Injecting infrastructure faults into a runtime's database, and what every fault test checks afterwards.

Tests run as root, so file permissions cannot make a SQLite file read-only and a tmpfs cannot be mounted in
every environment: the faults are real driver-level ones, injected on every new connection with an engine
event (`PRAGMA query_only`, `PRAGMA max_page_count`, `SET default_transaction_read_only`), or by terminating the
backend of a connection in the middle of a transaction (`pg_terminate_backend`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa


@contextmanager
def on_every_connection(rt, statements: Callable[[Any], list[str]]) -> Iterator[None]:
    """Run `statements(dbapi_connection)` on every connection the runtime opens while the block runs."""
    engine = rt.ctx.db.engine
    is_pg = not rt.ctx.db.is_sqlite

    def inject(dbapi_connection: Any, _record: Any) -> None:
        if is_pg:
            dbapi_connection.autocommit = True  # a SET inside a transaction would be rolled back with it
        cursor = dbapi_connection.cursor()
        for sql in statements(dbapi_connection):
            cursor.execute(sql)
        cursor.close()
        if is_pg:
            dbapi_connection.autocommit = False

    sa.event.listen(engine, "connect", inject)
    engine.dispose()  # pooled connections predate the fault
    try:
        yield
    finally:
        sa.event.remove(engine, "connect", inject)
        engine.dispose()


def sqlite_read_only(rt):
    return on_every_connection(rt, lambda _c: ["PRAGMA query_only=ON"])


def sqlite_full(rt):
    """The database may not grow by a single page: SQLITE_FULL, as on a full disk."""

    def statements(conn: Any) -> list[str]:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        return [f"PRAGMA max_page_count={pages}"]

    return on_every_connection(rt, statements)


def postgres_read_only(rt):
    return on_every_connection(rt, lambda _c: ["SET default_transaction_read_only = on"])


@contextmanager
def postgres_killed_mid_transaction(rt, admin_url: str, table: str = "audit_event") -> Iterator[list[int]]:
    """The first INSERT into `table` finds its connection terminated by the server (57P01, as in a failover)."""
    engine = rt.ctx.db.engine
    killed: list[int] = []
    admin = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)

    def before(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if killed or not statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            return
        pid = conn.connection.dbapi_connection.info.backend_pid
        with admin.connect() as a:
            a.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            a.commit()
        killed.append(pid)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield killed
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        admin.dispose()


def row_counts(rt) -> dict[str, int]:
    with rt.ctx.db.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in sorted(names)}
