"""The store on SQLite and PostgreSQL: migrations, connection settings, attribution, UTC times."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from cublab.app.inputs import SandboxRef
from cublab.store import db as store_db
from support.mcp import call
from support.runtime import AGENT, AGENT_PRINCIPAL, make_runtime

pytestmark = pytest.mark.anyio

VERSIONS = Path(store_db.__file__).parent / "migrations" / "versions"
LEDGER_TABLES = {
    "sandbox",
    "experiment",
    "variant",
    "result_batch",
    "result_summary",
    "measurement",
    "audit_event",
    "audit_head",
}


def alembic_head() -> str:
    from alembic.script import ScriptDirectory

    from cublab.store.migrations import config

    heads = ScriptDirectory.from_config(config()).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return heads[0]


def test_schema_head_is_the_newest_migration() -> None:
    assert alembic_head() == store_db.SCHEMA_HEAD
    # And that migration exists as a file in versions/.
    revisions = {re.search(r"^revision = ['\"](\w+)['\"]", p.read_text(), re.M).group(1) for p in VERSIONS.glob("*.py")}
    assert store_db.SCHEMA_HEAD in revisions


def tables(rt) -> set[str]:
    return set(sa.inspect(rt.ctx.db.engine).get_table_names())


def test_migrations_create_the_schema_at_head(any_runtime) -> None:
    db = any_runtime.ctx.db
    assert db.schema_version() == store_db.SCHEMA_HEAD
    assert LEDGER_TABLES | {"alembic_version"} <= tables(any_runtime)
    inspector = sa.inspect(db.engine)
    assert inspector.get_indexes("measurement") == []  # the primary key (batch, position) is the only index
    assert inspector.get_pk_constraint("measurement")["constrained_columns"] == ["batch_id", "seq"]
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, seq FROM audit_head")).all() == [(1, 0)]


def test_migrate_twice_is_a_no_op(any_runtime) -> None:
    db = any_runtime.ctx.db
    before = tables(any_runtime)
    db.migrate()
    # Also run alembic itself again, bypassing the fast path: still nothing to do.
    from cublab.store.migrations import upgrade

    with db.engine.begin() as conn:
        upgrade(conn)
    assert tables(any_runtime) == before
    assert db.schema_version() == store_db.SCHEMA_HEAD
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_head")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_a_second_runtime_on_a_migrated_database_keeps_its_data(sqlite_url, clock) -> None:
    from cublab.app.inputs import SpawnSandbox

    first = make_runtime(sqlite_url, clock)
    sandbox = first.sandboxes.spawn(SpawnSandbox(name="keep", purpose="p"), first.agent)
    first.close()
    second = make_runtime(sqlite_url, clock)
    try:
        assert second.sandboxes.get(SandboxRef(sandbox_id=sandbox.id)).name == "keep"
    finally:
        second.close()


def test_sqlite_pragmas_are_set_on_every_connection(runtime) -> None:
    engine = runtime.ctx.db.engine
    connections = [engine.connect() for _ in range(3)]  # three pooled connections, each configured on connect
    try:
        for conn in connections:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == store_db.BUSY_TIMEOUT_MS
            assert store_db.BUSY_TIMEOUT_MS >= 5000
    finally:
        for conn in connections:
            conn.close()


def test_foreign_keys_are_enforced(any_runtime) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with any_runtime.ctx.db.write() as session:
            session.connection().execute(
                sa.text(
                    "INSERT INTO experiment (id, sandbox_id, name, hypothesis, objective_metric, direction, owner, created_by, created_at) "
                    "VALUES ('exp_x', 'sbx_missing', 'e', 'h', 'm', 'minimize', 'agent:x', 'agent:x-1', '2026-01-01 00:00:00')"
                )
            )


async def workflow(client) -> dict:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="2h")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    for k in range(2):
        await call(client, "variant_log", experiment_id=exp["id"], name=f"v{k}", configuration=json.dumps({"k": k}))
    for _ in range(2):
        await call(
            client,
            "result_log",
            experiment_id=exp["id"],
            points=[{"variant": f"v{k}", "metric": "m", "value": float(k)} for k in range(2)],
        )
    await call(client, "sandbox_renew", sandbox_id=sandbox["id"], ttl="3h")
    await call(client, "sandbox_destroy", sandbox_id=sandbox["id"])
    return {"sandbox": sandbox, "experiment": exp}


async def test_every_row_is_attributed(any_client, any_runtime) -> None:
    await workflow(any_client)
    with any_runtime.ctx.db.engine.connect() as conn:
        for table in ("sandbox", "experiment", "variant", "result_batch"):
            creators = conn.execute(sa.text(f"SELECT DISTINCT created_by FROM {table}")).scalars().all()
            assert creators == [AGENT], table
        for table in ("sandbox", "experiment"):  # owned by the agent's principal
            assert conn.execute(sa.text(f"SELECT owner FROM {table}")).scalars().all() == [AGENT_PRINCIPAL]
        # Measurements carry their identity through their batch.
        unattributed = conn.execute(
            sa.text(
                "SELECT count(*) FROM measurement m LEFT JOIN result_batch b ON b.id = m.batch_id WHERE b.created_by IS NULL"
            )
        ).scalar()
        assert unattributed == 0
        assert conn.execute(sa.text("SELECT count(*) FROM measurement")).scalar() == 4
        assert conn.execute(sa.text("SELECT DISTINCT actor FROM audit_event")).scalars().all() == [AGENT]


async def test_times_are_stored_and_returned_as_utc(any_runtime, clock) -> None:
    from mcp import Client

    from cublab.mcp_server import build_server

    clock.now = datetime(2026, 3, 29, 3, 30, 0, 123456, tzinfo=timezone(timedelta(hours=5)))  # not UTC on purpose
    async with Client(build_server(any_runtime)) as client:
        sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="1h")
    assert datetime.fromisoformat(sandbox["created_at"]) == datetime(2026, 3, 28, 22, 30, 0, 123456, tzinfo=UTC)
    with any_runtime.ctx.db.engine.connect() as conn:
        created, expires = conn.execute(sa.text("SELECT created_at, expires_at FROM sandbox")).one()
        at = conn.execute(sa.text("SELECT at FROM audit_event")).scalar()
    as_naive = [v if isinstance(v, datetime) else datetime.fromisoformat(v) for v in (created, expires)]
    assert as_naive == [datetime(2026, 3, 28, 22, 30, 0, 123456), datetime(2026, 3, 28, 23, 30, 0, 123456)]
    assert at == "2026-03-28T22:30:00.123456Z"
    row = any_runtime.sandboxes.get(SandboxRef(sandbox_id=sandbox["id"]))
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
    assert row.created_at == clock.now.astimezone(UTC)
    clock.now = clock.now.astimezone(UTC)
    async with Client(build_server(any_runtime)) as client:
        read = await call(client, "sandbox_get", sandbox_id=sandbox["id"])
    assert read["created_at"] == "2026-03-28T22:30:00.123456Z"  # read back: UTC, with a Z
    assert read["expires_at"] == "2026-03-28T23:30:00.123456Z"


def test_naive_datetimes_are_refused() -> None:
    from cublab.store.types import UTCDateTime

    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)
