"""Many writers at once, as separate processes on one SQLite file: no error, no "database is locked",
every point stored, the chain intact."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
from mcp import Client

from cublab.mcp_server import build_server
from support.concurrency import BATCHES, POINTS, check, setup_experiment
from support.runtime import make_runtime

pytestmark = pytest.mark.anyio


WRITER = textwrap.dedent("""
    import sys
    from cublab.app.inputs import LogResults
    from cublab.config import Settings
    from cublab.runtime import Runtime

    db, experiment_id, who = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rt = Runtime(Settings(db=db, agent=f"agent:proc-{{who}}", policy_path=None))
    for batch in range({batches}):
        points = [dict(variant=f"v{{k % 2}}", metric="m", value=float(who * 1000 + batch * 100 + k)) for k in range({points})]
        rt.experiments.log_results(LogResults(experiment_id=experiment_id, points=points), rt.agent)
    rt.close()
""").format(batches=BATCHES, points=POINTS)


async def test_four_processes_on_one_sqlite_file(sqlite_url, clock) -> None:
    rt = make_runtime(sqlite_url)  # the real clock: the subprocesses read it too
    try:
        async with Client(build_server(rt)) as first:
            experiment_id = await setup_experiment(first)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, sqlite_url, experiment_id, str(who)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for who in range(4)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outputs, strict=False):
            assert p.returncode == 0, err
            assert "locked" not in err.lower()
        check(rt, experiment_id, 4)
        with rt.ctx.db.engine.connect() as conn:
            actors = set(conn.execute(sa.text("SELECT DISTINCT created_by FROM result_batch")).scalars())
        assert actors == {f"agent:proc-{who}" for who in range(4)}
    finally:
        rt.close()
