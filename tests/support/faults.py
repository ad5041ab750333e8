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


@contextmanager
def tmpfs(path, size: str = "4m") -> Iterator[Any]:
    """A small tmpfs mounted at `path` for the block (a real file system that fills up); skipped, visibly, where
    mounting is not permitted (not root, or no CAP_SYS_ADMIN in the container)."""
    import subprocess

    import pytest

    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode(errors='replace').strip()}): fault not run")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def read_only_view(source, path) -> Iterator[Callable[[bool], None]]:
    """`path` shows `source` through a bind mount; yields `read_only(on)`, which remounts it read-only or back."""
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(source), str(path)], check=True)

    def read_only(on: bool) -> None:
        flags = "remount,ro,bind" if on else "remount,rw,bind"
        subprocess.run(["mount", "-o", flags, str(path)], check=True, capture_output=True)

    try:
        yield read_only
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory) -> Any:
    """Fill the file system holding `directory` to the last byte; returns the filler file (delete it to free)."""
    import errno

    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return filler
