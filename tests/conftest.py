"""Shared fixtures: a database per test (SQLite, and PostgreSQL where configured),
a runtime with a controllable clock, and an in-process MCP client.

Modules with async tests set `pytestmark = pytest.mark.anyio` (asyncio backend)."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client

from cublab.config import Settings
from cublab.mcp_server import build_server
from cublab.runtime import Runtime

POSTGRES_ENV = "CUBLAB_TEST_POSTGRES_URL"
AGENT = "agent:pytest-session1"


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(POSTGRES_ENV)
    return f"cublab: PostgreSQL tests {'ON (' + url + ')' if url else 'SKIPPED: ' + POSTGRES_ENV + ' is not set'}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    """A clock the test moves by hand: `clock.advance(hours=25)`."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _postgres_schema_url(base: str) -> tuple[str, str]:
    """A fresh schema on the test server, so runs never see each other's rows."""
    import sqlalchemy as sa

    from cublab.store.db import database_url

    schema = f"cublab_t_{secrets.token_hex(6)}"
    engine = sa.create_engine(database_url(base))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(base: str, schema: str) -> None:
    import sqlalchemy as sa

    from cublab.store.db import database_url

    engine = sa.create_engine(database_url(base))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Any:
    """A new, empty database: a SQLite file, or a fresh PostgreSQL schema (skipped, visibly, without one)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL variant not run")
    url, schema = _postgres_schema_url(base)
    yield url
    _drop_schema(base, schema)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory) -> Any:
    """One migrated database per test session; each test gets a copy (migrating costs ~1 s)."""
    from cublab.store.db import Database

    path = tmp_path_factory.mktemp("template") / "cublab.db"
    db = Database(str(path))
    db.migrate()
    db.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path, _migrated_sqlite) -> str:
    import shutil

    target = tmp_path / "cublab.db"
    shutil.copyfile(_migrated_sqlite, target)
    return str(target)


def make_runtime(db: str, clock: Clock | None = None, agent: str = AGENT) -> Runtime:
    return Runtime(Settings(db=db, agent=agent, policy_path=None), clock=clock)


@pytest.fixture
def runtime(sqlite_url: str, clock: Clock) -> Any:
    rt = make_runtime(sqlite_url, clock)
    yield rt
    rt.close()


@pytest.fixture
def any_runtime(db_url: str, clock: Clock) -> Any:
    """Like `runtime`, on every configured database."""
    rt = make_runtime(db_url, clock)
    yield rt
    rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> Any:
    async with Client(build_server(runtime)) as c:
        yield c


@pytest.fixture
async def any_client(any_runtime: Runtime) -> Any:
    async with Client(build_server(any_runtime)) as c:
        yield c


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {result.content[0].text}"
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a ToolError; return the message the agent reads."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    text = result.content[0].text
    assert "Traceback" not in text
    return text


async def finished_experiment(
    client: Client,
    space: str,
    unit: str,
    base: dict[str, Any],
    changes=({"lambdaMemory": 1024}, {"lambdaMemory": 2048}),
    means=(200.0, 120.0),
) -> tuple[dict, list[dict]]:
    """A finished experiment on `space/unit`: one variant per change over `base`, 10 points each; the last wins clearly."""
    sandbox = await call(client, "sandbox_spawn", name="tune", purpose="tune the handler", ttl="2h")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="memory",
        hypothesis="more memory is faster",
        objective_metric="p95",
        direction="minimize",
        target_space=space,
        target_unit=unit,
    )
    variants = []
    for n, change in enumerate(changes):
        variants.append(
            (await call(client, "variant_log", experiment_id=exp["id"], name=f"v{n}", config={**base, **change}))[
                "variant"
            ]
        )
    points = [
        {"variant": v["id"], "metric": "p95", "value": mean + (k % 5)}
        for v, mean in zip(variants, means, strict=True)
        for k in range(10)
    ]
    await call(client, "result_log", experiment_id=exp["id"], points=points)
    return exp, variants
