"""One place classifies infrastructure faults: what the drivers raise becomes a Fault naming what happened, that
nothing was written, and whether a retry may succeed. And the server's log is one line per record."""

from __future__ import annotations

import errno
import io
import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from cublab import logs
from cublab.app.faults import classify
from cublab.authority.errors import AuthorityUnavailable
from cublab.domain.errors import InvalidInput


class PgError(Exception):
    """What psycopg raises: an exception carrying a SQLSTATE."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def sqlite_error(code: int, name: str, message: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    exc.sqlite_errorname = name  # type: ignore[attr-defined]
    return exc


CASES = [
    (sqlite_error(13, "SQLITE_FULL", "database or disk is full"), "database_full", False),
    (sqlite_error(8, "SQLITE_READONLY", "attempt to write a readonly database"), "database_read_only", False),
    (
        sqlite_error(1032, "SQLITE_READONLY_DBMOVED", "attempt to write a readonly database"),
        "database_read_only",
        False,
    ),
    (sqlite_error(5, "SQLITE_BUSY", "database is locked"), "database_locked", True),
    (sqlite_error(10, "SQLITE_IOERR", "disk I/O error"), "database_io_error", False),
    (sqlite_error(14, "SQLITE_CANTOPEN", "unable to open database file"), "database_cannot_open", False),
    (sqlite_error(11, "SQLITE_CORRUPT", "database disk image is malformed"), "database_corrupt", False),
    (sqlite3.OperationalError("database or disk is full"), "database_full", False),  # no result code: by its text
    (PgError("25006", "cannot execute INSERT in a read-only transaction"), "database_read_only", False),
    (PgError("53100", "could not extend file: No space left on device"), "database_full", False),
    (PgError("57P01", "terminating connection due to administrator command"), "database_unavailable", True),
    (PgError("08006", "connection failure"), "database_unavailable", True),
    (PgError("55P03", "could not obtain lock"), "database_locked", True),
    (PgError("40001", "could not serialize access"), "database_conflict", True),
    (OSError(errno.ENOSPC, "No space left on device"), "database_full", False),
    (OSError(errno.EROFS, "Read-only file system"), "database_read_only", False),
    (AuthorityUnavailable("ConfigHub at https://hub is unreachable"), "authority_unreachable", True),
]


@pytest.mark.parametrize(("exc", "kind", "retryable"), CASES, ids=[c[1] + "-" + type(c[0]).__name__ for c in CASES])
def test_each_fault_is_named_with_whether_to_retry(exc, kind, retryable) -> None:
    wrapped = sa.exc.OperationalError("INSERT INTO t VALUES (?)", ("secret-ish value",), exc)
    for raised in (exc, wrapped):
        fault = classify(raised)
        assert fault is not None and fault.kind == kind and fault.retryable is retryable
        text = str(fault)
        assert kind in text and "Nothing was written" in text and f"retryable: {str(retryable).lower()}" in text
        assert "secret-ish value" not in text and "INSERT INTO" not in text  # never the statement or its values


@pytest.mark.parametrize(
    "exc", [ValueError("bug"), KeyError("x"), InvalidInput("name: too long"), PgError("23505", "dup")]
)
def test_bugs_and_business_errors_are_not_faults(exc) -> None:
    assert classify(exc) is None


def test_a_fault_raised_from_inside_a_chain_is_found() -> None:
    try:
        try:
            raise sqlite_error(13, "SQLITE_FULL", "database or disk is full")
        except sqlite3.OperationalError as inner:
            raise RuntimeError("while logging a variant") from inner
    except RuntimeError as outer:
        fault = classify(outer)
    assert fault is not None and fault.kind == "database_full"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_records_are_one_line_each_tracebacks_included(fmt) -> None:
    formatter = logs.JsonFormatter() if fmt == "json" else logs.OneLineFormatter()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    log = logging.getLogger("cublab.test-one-line")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError("first line\nsecond line " + "x" * 200)
        except RuntimeError:
            log.exception("tool %r crashed\nwith a newline", "x")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and len(lines[0]) > 200  # never wrapped at 80 columns
    if fmt == "json":
        entry = json.loads(lines[0])
        assert entry["level"] == "ERROR" and "RuntimeError: first line" in entry["exception"]
    else:
        assert "RuntimeError: first line\\nsecond line" in lines[0] and "test_fault_classification.py:" in lines[0]


def test_cli_exits_3_naming_the_fault(tmp_path: Path) -> None:
    directory = tmp_path / "not-a-file"
    directory.mkdir()
    script = Path(sys.executable).parent / "cublab"
    done = subprocess.run(
        [str(script), "audit", "verify", "--db", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    assert "database_cannot_open" in done.stderr and "retryable: false" in done.stderr
    assert "Traceback" not in done.stderr
