"""Shared fixtures: a database per test (SQLite, and PostgreSQL where configured),
a runtime with a controllable clock, and an in-process MCP client.

Helpers that tests import live in `support/`; this file holds fixtures only.
Modules with async tests set `pytestmark = pytest.mark.anyio` (asyncio backend)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

# pydantic reads this once, the first time a validation error is printed. cublab.mcp_server sets it on
# import; a test worker may print an error before importing it (a unit test) and would then show the
# agent's messages with documentation links that the served ones lack. Set it as the server does.
os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")

# The helpers' asserts (support/) explain their failures as a test's own do; this must precede their import.
pytest.register_assert_rewrite("support")

from mcp import Client  # noqa: E402

from cublab.mcp_server import build_server  # noqa: E402
from cublab.runtime import Runtime  # noqa: E402
from support.clock import Clock  # noqa: E402
from support.runtime import POSTGRES_ENV, drop_schema, make_runtime, postgres_schema_url  # noqa: E402


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(POSTGRES_ENV)
    return f"cublab: PostgreSQL tests {'ON (' + url + ')' if url else 'SKIPPED: ' + POSTGRES_ENV + ' is not set'}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Any:
    """A new, empty database: a SQLite file, or a fresh PostgreSQL schema (skipped, visibly, without one)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL variant not run")
    url, schema = postgres_schema_url(base)
    yield url
    drop_schema(base, schema)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory) -> Any:
    """One migrated database per test session (per xdist worker); each test gets a copy (migrating costs ~1 s)."""
    from cublab.store.db import Database

    path = tmp_path_factory.mktemp("template") / "cublab.db"
    db = Database(str(path))
    db.migrate()
    db.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path, _migrated_sqlite) -> str:
    target = tmp_path / "cublab.db"
    shutil.copyfile(_migrated_sqlite, target)
    return str(target)


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
