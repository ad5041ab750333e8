"""Many writers at once: no error, no "database is locked", every point stored, the chain intact.
(Separate processes: e2e/test_concurrency_processes.py.)"""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from cublab.mcp_server import build_server
from support.concurrency import check, hammer, setup_experiment
from support.runtime import make_runtime

pytestmark = pytest.mark.anyio

CLIENTS = 20


async def test_twenty_clients_on_one_server(any_runtime) -> None:
    server = build_server(any_runtime)
    async with Client(server) as first:
        experiment_id = await setup_experiment(first)
    errors: list[str] = []

    async def one(who: int) -> None:
        async with Client(server) as client:
            await hammer(client, experiment_id, who, errors)

    async with anyio.create_task_group() as tg:
        for who in range(CLIENTS):
            tg.start_soon(one, who)
    assert errors == []
    check(any_runtime, experiment_id, CLIENTS)


async def test_twenty_runtimes_on_one_sqlite_file(sqlite_url, clock) -> None:
    """Separate Runtimes model separate processes: separate engines, no shared in-process lock."""
    runtimes = [make_runtime(sqlite_url, clock) for _ in range(CLIENTS)]
    try:
        async with Client(build_server(runtimes[0])) as first:
            experiment_id = await setup_experiment(first)
        errors: list[str] = []

        async def one(who: int) -> None:
            async with Client(build_server(runtimes[who])) as client:
                await hammer(client, experiment_id, who, errors)

        async with anyio.create_task_group() as tg:
            for who in range(CLIENTS):
                tg.start_soon(one, who)
        assert not [e for e in errors if "locked" in e.lower()]
        assert errors == []
        check(runtimes[0], experiment_id, CLIENTS)
    finally:
        for rt in runtimes:
            rt.close()
