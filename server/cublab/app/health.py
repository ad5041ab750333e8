"""Health for orchestrators: is the database writable, is its schema current, is the authority reachable.

`cublab serve --http` answers `GET /healthz` with this report (200 when every check passes, 503 otherwise).
The write probe takes the write lock and updates the audit chain's head row to itself, then rolls back: a
read-only file, a read-only PostgreSQL server or session, a lost connection or a lock held past the busy timeout
all fail it; a disk that is about to fill does not (nothing is committed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from pydantic import BaseModel

from cublab.app.faults import classify


class Check(BaseModel):
    ok: bool
    detail: str
    retryable: bool | None = None


class HealthReport(BaseModel):
    ok: bool
    database: Check
    migrations: Check
    authority: Check
    elapsed_ms: float


class _Probe(Exception):
    """Raised to roll the probe's transaction back."""


def _guarded(check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:
        fault = classify(exc)
        if fault is None:
            return Check(ok=False, detail=f"unexpected {type(exc).__name__}")
        return Check(ok=False, detail=str(fault), retryable=fault.retryable)


def check_health(ctx_factory: Callable[[], object]) -> HealthReport:
    """`ctx_factory` builds (or returns) the application context; building it opens and migrates the database,
    which is itself a check."""
    from cublab.app.context import AppContext
    from cublab.store.db import SCHEMA_HEAD

    start = time.perf_counter()
    holder: list[AppContext] = []

    def database() -> Check:
        ctx = ctx_factory()
        assert isinstance(ctx, AppContext)
        holder.append(ctx)
        try:
            with ctx.db.write() as session:
                session.execute(sa.text("UPDATE audit_head SET seq = seq WHERE id = 1"))
                raise _Probe
        except _Probe:
            pass
        return Check(ok=True, detail=f"writable ({'sqlite' if ctx.db.is_sqlite else 'postgresql'})")

    def migrations() -> Check:
        if not holder:
            return Check(ok=False, detail="not checked: the database could not be opened")
        version = holder[0].db.schema_version()
        return Check(ok=version == SCHEMA_HEAD, detail=f"schema {version}, expected {SCHEMA_HEAD}")

    def authority() -> Check:
        if not holder:
            return Check(ok=False, detail="not checked: the database could not be opened")
        remote = holder[0].remote
        if remote is None:
            return Check(ok=True, detail="embedded (in cublab's database)")
        if remote.reachable():
            return Check(ok=True, detail=f"{remote.name} reachable")
        return Check(ok=False, detail=f"{remote.name} unreachable", retryable=True)

    db, mig, auth = _guarded(database), _guarded(migrations), _guarded(authority)
    return HealthReport(
        ok=db.ok and mig.ok and auth.ok,
        database=db,
        migrations=mig,
        authority=auth,
        elapsed_ms=round((time.perf_counter() - start) * 1000, 1),
    )
