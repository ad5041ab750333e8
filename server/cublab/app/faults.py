"""Infrastructure faults, classified in one place.

A disk that fills, a database file or server that turns read-only, a lost connection, a lock held past the
busy timeout, an unreachable authority: none of these is the caller's mistake or a bug, and each needs a
different answer to "should I call again?". `classify` maps what the drivers raise (sqlite3 result codes,
PostgreSQL SQLSTATEs through psycopg, SQLAlchemy's wrappers, OS errors, the authority's errors) to a `Fault`
that says what happened, that nothing was written, and whether a retry may succeed. The MCP adapter turns it
into a tool error with `retryable` in its structured content; the CLI exits 3 with the same words.

Every use case writes in one transaction, so a fault raised inside it rolls everything back: "nothing was
written" holds, except for a connection lost while the COMMIT itself was in flight, which the message says.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from cublab.domain.errors import Fault


@dataclass(frozen=True)
class FaultKind:
    kind: str
    what: str
    retryable: bool
    advice: str


FULL = FaultKind(
    "database_full",
    "the database is full (no space left on its disk, or its size limit reached)",
    False,
    "retrying will not succeed until an operator frees space",
)
READ_ONLY = FaultKind(
    "database_read_only",
    "the database is read-only (its file or server refuses writes)",
    False,
    "retrying will not succeed until an operator makes it writable again",
)
IO_ERROR = FaultKind(
    "database_io_error",
    "the database's storage reported an I/O error",
    False,
    "retrying is unlikely to succeed until an operator checks the disk",
)
CORRUPT = FaultKind(
    "database_corrupt",
    "the database file is damaged or is not a cublab database",
    False,
    "retrying will not succeed; an operator must restore it",
)
UNAVAILABLE = FaultKind(
    "database_unavailable",
    "the database is unavailable (the connection was refused, lost or shut down)",
    True,
    "retrying may succeed once it is back, in a few seconds",
)
CANNOT_OPEN = FaultKind(
    "database_cannot_open",
    "the database file cannot be opened (a missing directory, a directory in its place, or no permission)",
    False,
    "retrying will not succeed until an operator fixes its path",
)
LOCKED = FaultKind(
    "database_locked",
    "the database stayed locked by other writers past the busy timeout",
    True,
    "retrying may succeed shortly",
)
CONFLICT = FaultKind(
    "database_conflict",
    "the transaction conflicted with a concurrent one and was rolled back",
    True,
    "retrying should succeed",
)
AUTHORITY = FaultKind(
    "authority_unreachable",
    "the configuration authority is unreachable",
    True,
    "retrying may succeed once it answers again",
)

# SQLite primary result codes (https://sqlite.org/rescode.html)
_SQLITE = {
    3: READ_ONLY,
    5: LOCKED,
    6: LOCKED,
    8: READ_ONLY,
    10: IO_ERROR,
    11: CORRUPT,
    13: FULL,
    14: CANNOT_OPEN,
    26: CORRUPT,
}
_SQLITE_TEXT = (
    ("database or disk is full", FULL),
    ("readonly database", READ_ONLY),
    ("disk i/o error", IO_ERROR),
    ("database is locked", LOCKED),
    ("unable to open database", CANNOT_OPEN),
    ("malformed", CORRUPT),
)
# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html): exact codes, then classes
_PG = {
    "25006": READ_ONLY,  # read_only_sql_transaction
    "53100": FULL,  # disk_full
    "53200": UNAVAILABLE,  # out_of_memory
    "53300": UNAVAILABLE,  # too_many_connections
    "55P03": LOCKED,  # lock_not_available
    "57014": LOCKED,  # query_canceled (statement or lock timeout)
    "57P01": UNAVAILABLE,  # admin_shutdown (pg_terminate_backend, a restart)
    "57P02": UNAVAILABLE,  # crash_shutdown
    "57P03": UNAVAILABLE,  # cannot_connect_now
    "40001": CONFLICT,  # serialization_failure
    "40P01": CONFLICT,  # deadlock_detected
    "58030": IO_ERROR,  # io_error
    "XX001": CORRUPT,  # data_corrupted
}
_PG_CLASS = {"08": UNAVAILABLE, "53": UNAVAILABLE, "57": UNAVAILABLE}
_OS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EFBIG: FULL, errno.EROFS: READ_ONLY, errno.EIO: IO_ERROR}


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wraps (`.orig`), and its causes and contexts, each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen) or len(seen) > 16:
            continue
        seen.append(e)
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    # The drivers' own errors first: they carry the result code or SQLSTATE, SQLAlchemy's wrappers only text.
    return sorted(seen, key=lambda e: type(e).__module__.startswith("sqlalchemy"))


def _kind_of(e: BaseException) -> FaultKind | None:
    from cublab.authority.errors import AuthorityUnavailable

    if isinstance(e, AuthorityUnavailable):
        return AUTHORITY
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE:
        return _SQLITE[code & 0xFF]
    state = getattr(e, "sqlstate", None)
    if isinstance(state, str) and state:
        return _PG.get(state) or _PG_CLASS.get(state[:2])
    module = type(e).__module__
    if module.startswith(("sqlite3", "psycopg")) or type(e).__name__ in ("OperationalError", "DatabaseError"):
        text = str(e).lower()
        for needle, kind in _SQLITE_TEXT:
            if needle in text:
                return kind
        if module.startswith("psycopg") and type(e).__name__ == "OperationalError":
            return UNAVAILABLE  # no SQLSTATE: the connection itself failed (refused, closed, reset)
    if isinstance(e, OSError) and e.errno in _OS:
        return _OS[e.errno]
    if type(e).__module__.startswith("sqlalchemy"):
        if getattr(e, "connection_invalidated", False):
            return UNAVAILABLE
        if type(e).__name__ == "TimeoutError":  # the pool had no free connection in time
            return LOCKED
    return None


def classify(exc: BaseException) -> Fault | None:
    """The fault behind `exc`, or None when it is not an infrastructure fault (a bug, or a business error)."""
    if isinstance(exc, Fault):
        return exc
    for e in _chain(exc):
        kind = _kind_of(e)
        if kind is not None:
            return fault(kind, detail=_detail(e))
    return None


def fault(kind: FaultKind, detail: str = "") -> Fault:
    written = (
        "Nothing was written (if the connection was lost during the commit itself, read before repeating a call "
        "that is not idempotent)."
        if kind is UNAVAILABLE
        else "Nothing was written."
    )
    text = f"{kind.kind}: {kind.what}{f' ({detail})' if detail else ''}. {written} retryable: "
    text += f"{'true' if kind.retryable else 'false'}: {kind.advice}."
    return Fault(text, kind=kind.kind, retryable=kind.retryable)


def _detail(e: BaseException) -> str:
    """The driver's own first line, short: it names the fault, never a value from the request."""
    from cublab.authority.errors import AuthorityUnavailable

    if isinstance(e, AuthorityUnavailable):
        return str(e)[:200]
    name = getattr(e, "sqlite_errorname", None) or getattr(e, "sqlstate", None)
    first = (str(e).strip().splitlines() or [""])[0][:160]
    return f"{name}: {first}" if name else first
