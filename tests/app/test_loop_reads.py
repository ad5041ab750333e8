"""Reads on the event loop (sandbox_get, sandbox_list, experiment_list, experiment_compare on SQLite): they never wait on a
writer, writers never wait on them, and a read that would have to wait goes to a worker thread while the
loop keeps answering (mcp_server._tool_function, store.db._sqlite_reader_engine)."""

from __future__ import annotations

import sqlite3
import threading

import anyio
import pytest
from mcp import Client

from cublab.mcp_server import build_server
from support.concurrency import check, hammer, setup_experiment
from support.mcp import call

pytestmark = pytest.mark.anyio


def _file(runtime) -> str:
    return runtime.ctx.db.location


def _threads_of(monkeypatch, runtime) -> list[int]:
    """Record the thread each sandbox_get runs its read on, for either runtime it may use."""
    seen: list[int] = []
    for rt in (runtime, runtime.on_loop):
        original = rt.sandboxes.get

        def get(cmd, original=original):
            seen.append(threading.get_ident())
            return original(cmd)

        monkeypatch.setattr(rt.sandboxes, "get", get)
    return seen


async def test_reads_run_on_the_loop_and_do_not_wait_for_a_writer(runtime, monkeypatch) -> None:
    async with Client(build_server(runtime)) as client:
        sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="1h")
        experiment = await call(
            client,
            "experiment_create",
            sandbox_id=sandbox["id"],
            name="e",
            hypothesis="h",
            objective_metric="m",
            direction="minimize",
        )
        seen = _threads_of(monkeypatch, runtime)
        writer = sqlite3.connect(_file(runtime), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process's write transaction, held open throughout
        writer.execute("UPDATE sandbox SET purpose = 'changed, not committed' WHERE id = ?", (sandbox["id"],))
        try:
            with anyio.fail_after(10):  # were a read waiting for the writer, it would wait until the end
                for _ in range(20):
                    got = await call(client, "sandbox_get", sandbox_id=sandbox["id"])
                    assert got["purpose"] == "p"  # the committed snapshot, not the open transaction
                page = await call(client, "sandbox_list")
                assert [s["id"] for s in page["sandboxes"]] == [sandbox["id"]]
                page = await call(client, "experiment_list", sandbox_id=sandbox["id"])
                assert [e["id"] for e in page["experiments"]] == [experiment["id"]]
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    assert seen and set(seen) == {threading.get_ident()}  # every read on the loop's thread: no thread hop


async def test_a_read_that_meets_a_lock_is_retried_on_a_worker_thread(runtime, monkeypatch) -> None:
    async with Client(build_server(runtime)) as client:
        sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="1h")
        seen = _threads_of(monkeypatch, runtime)
        # A connection in exclusive locking mode holding a write lock keeps even WAL readers out: the one lock a
        # reader can meet. (It takes that lock only while no other connection is open: the runtime's idle ones
        # are closed first.) The loop's reader gets SQLITE_BUSY at once (busy timeout 0) and the call goes to a
        # worker thread, which gets SQLITE_BUSY too (SQLite does not wait for this lock): the agent is told.
        runtime.ctx.db.engine.dispose()
        runtime.on_loop.ctx.db.engine.dispose()
        holder = sqlite3.connect(_file(runtime), isolation_level=None)
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with anyio.fail_after(10):
                result = await client.call_tool("sandbox_get", {"sandbox_id": sandbox["id"]})
        finally:
            holder.execute("COMMIT")
            holder.close()
        assert result.is_error
        assert result.structured_content["error"]["fault"] == "database_locked"
        assert result.structured_content["error"]["retryable"] is True
        loop = threading.get_ident()
        assert seen[0] == loop and seen[1] != loop  # tried on the loop, then again on a worker thread
        seen.clear()
        assert (await call(client, "sandbox_get", sandbox_id=sandbox["id"]))["id"] == sandbox["id"]
        assert seen == [loop]  # the lock gone, reads are back on the loop


async def test_compare_runs_on_the_loop_and_a_scan_it_needs_goes_to_a_worker_thread(runtime, monkeypatch) -> None:
    """experiment_compare reads one summary row per variant: on the loop, beside an open writer. Naming the
    batches whose values overflow the summaries scans the points: that call is made again on a worker thread."""
    async with Client(build_server(runtime)) as client:
        experiment_id = await setup_experiment(client)
        points = [{"variant": f"v{k % 2}", "metric": "m", "value": float(k)} for k in range(20)]
        await call(client, "result_log", experiment_id=experiment_id, points=points)
        await call(client, "experiment_compare", experiment_id=experiment_id)  # builds the loop's runtime
        seen: list[int] = []
        for rt in (runtime, runtime.on_loop):
            original = rt.experiments.compare

            def compare(cmd, original=original):
                seen.append(threading.get_ident())
                return original(cmd)

            monkeypatch.setattr(rt.experiments, "compare", compare)
        writer = sqlite3.connect(_file(runtime), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE result_summary SET n = n + 1000")  # not committed: compare does not see it
        try:
            with anyio.fail_after(10):
                before = await call(client, "experiment_compare", experiment_id=experiment_id)
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert seen == [threading.get_ident()]
        assert sum(v["n"] for v in before["variants"]) < 1000
        seen.clear()
        with sqlite3.connect(_file(runtime)) as conn:
            conn.execute("UPDATE result_summary SET m2 = 1e308 * 10")  # an overflowed summary, as before the limit
        message = (await client.call_tool("experiment_compare", {"experiment_id": experiment_id})).content[0].text
        assert "too large to compare" in message
        loop = threading.get_ident()
        assert seen[0] == loop and seen[1] != loop  # tried on the loop, then on a worker thread


async def test_writers_and_loop_reads_together(runtime) -> None:
    """Ten clients writing results while ten read in a loop: no error, nothing lost, the chain intact."""
    server = build_server(runtime)
    async with Client(server) as first:
        experiment_id = await setup_experiment(first)
        (sandbox,) = (await call(first, "sandbox_list"))["sandboxes"]
    errors: list[str] = []
    writing = anyio.Event()
    writers_done = 0

    async def write(who: int) -> None:
        nonlocal writers_done
        async with Client(server) as client:
            writing.set()
            await hammer(client, experiment_id, who, errors)
        writers_done += 1

    async def read() -> None:
        async with Client(server) as client:
            await writing.wait()
            reads = 0
            while writers_done < 10 or reads < 5:
                result = await client.call_tool("sandbox_get", {"sandbox_id": sandbox["id"]})
                if result.is_error:
                    errors.append(result.content[0].text)
                reads += 1

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for who in range(10):
                tg.start_soon(write, who)
                tg.start_soon(read)
    assert errors == []
    check(runtime, experiment_id, 10)


async def test_postgres_reads_stay_on_worker_threads(any_runtime) -> None:
    """Only SQLite in WAL mode reads without waiting; on PostgreSQL every read is a round trip and stays off the loop."""
    async with Client(build_server(any_runtime)) as client:
        await call(client, "sandbox_list")
    assert (any_runtime.on_loop is None) == (not any_runtime.ctx.db.is_sqlite)


def test_building_the_application_from_many_threads_at_once_does_not_deadlock(sqlite_url, clock) -> None:
    """serve's warm-up thread and the first calls build the application together (on Python 3.11 a cached
    property holds a lock of its own while it computes, so nothing may take one while holding the runtime's)."""
    from support.runtime import make_runtime

    for _ in range(5):
        rt = make_runtime(sqlite_url, clock)
        work = [
            rt.warm_up,
            lambda rt=rt: rt.sandboxes,
            lambda rt=rt: rt.experiments,
            lambda rt=rt: rt.on_loop,
            rt.warm_up,
        ]
        threads = [threading.Thread(target=w, daemon=True) for w in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "building the application deadlocked"
        assert rt.on_loop is not None and rt.on_loop.sandboxes is not rt.sandboxes
        rt.close()
