"""The engine and its transactions.

One SQLAlchemy URL chooses the database. SQLite (the default) runs in WAL mode
with a busy timeout and foreign keys on; write transactions start with
`BEGIN IMMEDIATE` so two writers never deadlock upgrading a read lock, and
threads of one process queue on a lock instead of spinning on SQLITE_BUSY.
Other processes wait out the busy timeout. PostgreSQL serialises audit appends
on the chain head row, so replicas behind a load balancer share one chain.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import SingletonThreadPool
from sqlmodel import Session

SCHEMA_HEAD = "0011"  # the newest migration in store/migrations/versions; a test keeps them equal
BUSY_TIMEOUT_MS = 30_000
_MIGRATION_LOCK = 0x6375626C6162  # "cublab", for pg_advisory_xact_lock
# The class (first key) of the two-key advisory locks `serialize()` takes; PostgreSQL keeps two-key locks apart
# from one-key ones such as the migration lock, and the class keeps them apart from other applications' locks.
_SERIALIZE_CLASS = 0x63756251  # "cubQ"
_AFTER_COMMIT = "cublab_after_commit"
# The write transaction that writes and reads in this thread (or task) join: see Database.enclosing().
_enclosing: ContextVar[tuple[Database, Session] | None] = ContextVar("cublab_enclosing_write", default=None)


def after_commit(session: Session, name: str, action: Callable[[], None]) -> None:
    """Run `action` once the write transaction of `session` has committed (never if it rolls back).

    Actions are keyed by name and a later one replaces an earlier one, so a
    transaction that appends many audit events still writes one witness line.
    They run in the order first registered, after the commit and before the
    write lock is released; one that fails is logged and does not undo the commit.
    """
    session.info.setdefault(_AFTER_COMMIT, {})[name] = action


def _run_after_commit(session: Session) -> None:
    for name, action in session.info.pop(_AFTER_COMMIT, {}).items():
        try:
            action()
        except Exception:  # the data is committed; saying the call failed would be a lie
            logging.getLogger("cublab.store").exception("cublab: after-commit action %r failed", name)


def serialize(session: Session, key: str) -> None:
    """Make the rest of `session`'s write transaction exclusive among writers that serialize on `key`.

    A check-then-insert (a quota's count, then the row it allows) is only exact if no other writer of
    the same key counts in between. SQLite writers already run one at a time (`BEGIN IMMEDIATE` and the
    in-process lock), so this is a no-op there. On PostgreSQL it takes a transaction-scoped advisory lock
    on (class, hash of schema and key): a second writer waits at this call until the first commits or
    rolls back, and then (READ COMMITTED: each statement reads the newest committed rows) counts what the
    first wrote. Call it before the reads it protects. Different keys never wait for each other, except
    for the rare 32-bit hash collision, which only makes two writers queue.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:c, hashtext(current_schema() || '/' || :k))"),
            {"c": _SERIALIZE_CLASS, "k": key},
        )


_Processor = Callable[[Any], Any] | None  # a column type's conversion of what the driver returns


@functools.lru_cache(maxsize=64)
def _select_plan(engine: Engine, table: Table, key: str) -> tuple[str, list[tuple[str, _Processor]]]:
    table.c[key]
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    columns: list[tuple[str, _Processor]] = [
        (c.name, c.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)) for c in table.c
    ]
    sql = f"SELECT {', '.join(name for name, _ in columns)} FROM {table.name} WHERE {key} = {mark}"
    return sql, columns


def select_one(engine: Engine, table: Table, key: str, value: object) -> dict[str, Any] | None:
    """One row by a key column, straight through the driver, as the column types read it.

    For the hottest reads (`sandbox_get`): SQLAlchemy's execution machinery costs
    several times the query itself. The connection still comes from the pool and
    goes back to it rolled back; names come from the table, never from input.
    """
    sql, columns = _select_plan(engine, table, key)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql, (value,))
        row = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()
    if row is None:
        return None
    return {name: process(v) if process else v for (name, process), v in zip(columns, row, strict=True)}


def database_url(db: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (which means SQLite)."""
    if "://" in db:
        url = make_url(db)
        if url.drivername == "postgresql":  # psycopg 3 is the driver cublab installs
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}, pool_size=8, max_overflow=32
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("cublab_write") else "BEGIN")

    return engine


def _sqlite_reader_engine(url: str) -> Engine:
    """Reads that never wait, for the event loop (`Database.reader`).

    A WAL reader takes no lock a writer holds: it reads the snapshot committed when
    its transaction began, whatever a writer is doing. What is left that could make
    a read wait is switched off: there is no pool to queue on (one connection per
    thread, `SingletonThreadPool`), and the busy timeout is 0, so the rare lock a
    reader can meet (a connection in exclusive locking mode, WAL recovery after a
    crash) fails at once with SQLITE_BUSY instead of sleeping in the busy handler;
    the caller then retries on a worker thread. SQLite's own locks are non-blocking
    `fcntl` calls. `query_only` makes the connection unable to write.
    """
    engine = create_engine(
        url, poolclass=SingletonThreadPool, pool_size=16, connect_args={"check_same_thread": False, "timeout": 0}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN below: a read sees one snapshot
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


class Database:
    def __init__(self, url: str, *, reader: bool = False) -> None:
        self.url = database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_reader = reader
        if reader and not self.is_sqlite:
            raise ValueError("reads that never wait need SQLite in WAL mode")
        if reader:
            self.engine = _sqlite_reader_engine(self.url)
        else:
            self.engine = (
                _sqlite_engine(self.url)
                if self.is_sqlite
                else create_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            )
        self._write_lock = threading.Lock() if self.is_sqlite else None

    def reader(self) -> Database:
        """The same SQLite database for reads that never wait on a lock or a pool (see `_sqlite_reader_engine`).

        For the event loop: a primary-key read or one bounded page runs there
        instead of on a worker thread. Call it after `migrate()` (the file is in
        WAL mode by then). It refuses to write.
        """
        return Database(self.url, reader=True)

    @property
    def location(self) -> str:
        """Where the data lives, for humans (never prints a password)."""
        url = make_url(self.url)
        return (url.database or ":memory:") if self.is_sqlite else url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: everything inside commits together or not at all.

        Inside `enclosing()` it is a savepoint of the enclosing transaction instead: a failure inside it
        undoes only its own writes (a use case that catches it and tries again still can), and nothing it
        writes is committed before the enclosing transaction is.
        """
        if self.is_reader:
            raise RuntimeError("a reader database does not write")
        outer = _enclosing.get()
        if outer is not None and outer[0] is self:
            session = outer[1]
            pending = dict(session.info.get(_AFTER_COMMIT, {}))
            try:
                with session.begin_nested():
                    yield session
                    session.flush()
            except BaseException:
                session.info[_AFTER_COMMIT] = pending  # nothing rolled back here may act after the commit
                raise
            return
        with self._write_lock or nullcontext():
            with Session(self.engine, expire_on_commit=False, autoflush=False) as session:
                session.connection(execution_options={"cublab_write": True})
                yield session
                session.commit()
                _run_after_commit(session)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session to read in; inside `enclosing()`, the enclosing transaction's, which sees its own writes."""
        outer = _enclosing.get()
        if outer is not None and outer[0] is self:
            yield outer[1]
            return
        with Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            yield session

    @contextmanager
    def enclosing(self) -> Iterator[Session]:
        """One write transaction around a whole use case: every `write()` and `read()` made inside it, in this
        thread or task, joins it. What a caller writes around the use case (an idempotency key and the answer
        it stores, app/idempotency.py) commits with the use case's own writes or not at all."""
        with self.write() as session:
            token = _enclosing.set((self, session))
            try:
                yield session
            finally:
                _enclosing.reset(token)

    def schema_version(self) -> str | None:
        with self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:  # no table yet: a new database
                return None

    def migrate(self) -> None:
        """Bring the schema to SCHEMA_HEAD; a no-op (and no alembic import) when it is there. An empty database
        is built from the models and stamped at SCHEMA_HEAD (store/schema.py), without alembic either."""
        if self.schema_version() == SCHEMA_HEAD:
            return
        from cublab.store import schema

        with self._write_lock or nullcontext():
            with self.engine.connect() as conn:
                conn = conn.execution_options(cublab_write=True)
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                    if schema.is_empty(conn):  # looked at under the lock: another process may have built it
                        schema.create(conn, SCHEMA_HEAD)
                    else:
                        from cublab.store.migrations import upgrade  # alembic is slow to import: only when needed

                        upgrade(conn)

    def dispose(self) -> None:
        self.engine.dispose()
