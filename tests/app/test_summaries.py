"""experiment_compare reads running summaries that result_log keeps: exact against math.fsum however the points
arrive, built by migration 0010 for databases that had points, and checked by `cublab experiments verify-summaries`.
(Concurrent writers: app/test_concurrency.py and e2e/test_concurrency_processes.py check the summaries too.)"""

from __future__ import annotations

import json
import math
import random

import anyio
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from typer.testing import CliRunner

from cublab.cli import app
from cublab.domain import stats
from cublab.mcp_server import build_server
from support.mcp import call
from support.runtime import migrate

VARIANTS = ("a", "b", "c")


async def _experiment(client: Client) -> str:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="summaries")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name="e",
        hypothesis="h",
        objective_metric="m",
        direction="minimize",
    )
    for k, name in enumerate(VARIANTS):
        await call(client, "variant_log", experiment_id=exp["id"], name=name, configuration=json.dumps({"k": k}))
    return exp["id"]


def _reference(values: list[float]) -> tuple[int, float, float | None, float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else None
    return n, mean, sd, min(values), max(values)


def _assert_exact(comparison: dict, values: dict[str, list[float]]) -> None:
    """Every measured variant's row against math.fsum; Welch's p-value and the intervals from the same numbers."""
    rows = {r["name"]: r for r in comparison["variants"]}
    for name, xs in values.items():
        row = rows[name]
        if not xs:
            assert row["n"] == 0 and row["mean"] is None
            continue
        n, mean, sd, lo, hi = _reference(xs)
        scale = max(abs(x) for x in xs) or 1.0
        assert (row["n"], row["min"], row["max"]) == (n, lo, hi)
        assert math.isclose(row["mean"], mean, rel_tol=1e-9, abs_tol=1e-12 * scale), (row["mean"], mean)
        if sd is None:
            assert row["stddev"] is None
        else:
            assert math.isclose(row["stddev"], sd, rel_tol=1e-9, abs_tol=1e-12 * scale), (row["stddev"], sd)
    measured = [name for name in values if values[name]]
    if len(measured) >= 2 and comparison["p_value"] is not None:
        names = {r["variant_id"]: r["name"] for r in comparison["variants"]}
        leader, runner_up = (stats.moments(values[names[comparison[k]]]).summary() for k in ("leader", "runner_up"))
        test = stats.welch_t_test(leader, runner_up)
        assert test is not None and math.isclose(comparison["p_value"], test.p_value, rel_tol=1e-6, abs_tol=1e-12)


BATCHES = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(VARIANTS),
            st.one_of(st.floats(-1e6, 1e6), st.floats(-1e15, 1e15), st.just(123456.789)).filter(math.isfinite),
        ),
        min_size=1,
        max_size=30,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=BATCHES, offset=st.sampled_from([0.0, 1e9, -2.5e12]))
def test_compare_from_summaries_is_exact_against_fsum(any_runtime, batches, offset) -> None:
    """However the points are split into batches, compare's numbers are math.fsum's (each example is a new
    experiment in the same database, on SQLite and PostgreSQL)."""
    values: dict[str, list[float]] = {name: [] for name in VARIANTS}

    async def run() -> dict:
        async with Client(build_server(any_runtime)) as client:
            experiment_id = await _experiment(client)
            for batch in batches:
                points = [{"variant": v, "metric": "m", "value": max(-1e15, min(1e15, x + offset))} for v, x in batch]
                await call(client, "result_log", experiment_id=experiment_id, points=points)
                for p in points:
                    values[p["variant"]].append(p["value"])
            return await call(client, "experiment_compare", experiment_id=experiment_id)

    _assert_exact(anyio.run(run), values)


@pytest.mark.anyio
async def test_compare_reads_one_row_per_variant(any_client, any_runtime) -> None:
    """Compare's statements touch result_summary only, never the points, however many there are."""
    experiment_id = await _experiment(any_client)
    rng = random.Random(3)
    values = {name: [rng.gauss(100 + k, 5) for _ in range(400)] for k, name in enumerate(VARIANTS)}
    for start in range(0, 400, 100):
        points = [
            {"variant": n, "metric": "m", "value": x} for n, xs in values.items() for x in xs[start : start + 100]
        ]
        await call(any_client, "result_log", experiment_id=experiment_id, points=points)
    statements: list[str] = []

    def listener(conn, cursor, statement, *rest) -> None:
        statements.append(statement)

    # On SQLite compare reads through the event loop's reader, a second engine on the same file.
    engines = [rt.ctx.db.engine for rt in (any_runtime, any_runtime.on_loop) if rt is not None]
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        comparison = await call(any_client, "experiment_compare", experiment_id=experiment_id)
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", listener)
    assert not [s for s in statements if "measurement" in s], statements
    assert [s for s in statements if "result_summary" in s]
    _assert_exact(comparison, values)
    log = await call(any_client, "experiment_get", experiment_id=experiment_id)
    assert sorted(m["n"] for m in log["measurements"]) == [400, 400, 400]


@pytest.mark.anyio
async def test_migration_builds_summaries_for_an_existing_database(any_client, any_runtime) -> None:
    """A database at 0009 with points (some logged before, some written in 0009's layout, one batch excluded by
    a human) gets exact summaries of the points that count, its points keep their batch and order, and compare
    agrees with math.fsum."""
    experiment_id = await _experiment(any_client)
    values: dict[str, list[float]] = {name: [] for name in VARIANTS}
    first = [{"variant": n, "metric": "m", "value": 1e9 + k / 7} for k, n in enumerate(VARIANTS * 4)]
    await call(any_client, "result_log", experiment_id=experiment_id, points=first)
    for p in first:
        values[p["variant"]].append(p["value"])
    migrate(any_runtime, "0009")
    with any_runtime.ctx.db.engine.begin() as conn:
        variant_ids = dict(
            conn.execute(sa.text("SELECT name, id FROM variant WHERE experiment_id = :e"), {"e": experiment_id}).all()
        )
        batch_id = conn.execute(
            sa.text(
                "INSERT INTO result_batch (experiment_id, point_count, digest, created_by, created_at) "
                "VALUES (:e, 9, 'sha256:old', 'agent:old-1', '2026-01-01 00:00:00') RETURNING id"
            ),
            {"e": experiment_id},
        ).scalar()
        old = [("b", 1e9 - 0.25 * k, k) for k in range(9)] + [("c", 3.5, None)]
        for name, value, step in old:
            conn.execute(
                sa.text(
                    "INSERT INTO measurement (experiment_id, variant_id, batch_id, metric, value, step) "
                    "VALUES (:e, :v, :b, 'm', :x, :s)"
                ),
                {"e": experiment_id, "v": variant_ids[name], "b": batch_id, "x": value, "s": step},
            )
            values[name].append(value)
        excluded = conn.execute(  # a batch a human excluded: its points stay, its values do not count
            sa.text(
                "INSERT INTO result_batch (experiment_id, point_count, digest, created_by, created_at, excluded_at, "
                "excluded_by, exclusion_reason) VALUES (:e, 2, 'sha256:bad', 'agent:old-1', '2026-01-01 00:00:00', "
                "'2026-01-02 00:00:00', 'human:alice', 'broken load generator') RETURNING id"
            ),
            {"e": experiment_id},
        ).scalar()
        for name in ("a", "b"):
            conn.execute(
                sa.text(
                    "INSERT INTO measurement (experiment_id, variant_id, batch_id, metric, value) "
                    "VALUES (:e, :v, :b, 'm', 1e12)"
                ),
                {"e": experiment_id, "v": variant_ids[name], "b": excluded},
            )
        conn.execute(  # another metric, so series are kept apart by metric too
            sa.text(
                "INSERT INTO measurement (experiment_id, variant_id, batch_id, metric, value) "
                "VALUES (:e, :v, :b, 'other', 42.0)"
            ),
            {"e": experiment_id, "v": variant_ids["a"], "b": batch_id},
        )
    migrate(any_runtime, "head")

    [check] = any_runtime.experiments.verify_summaries(experiment_id)
    assert check.differences == [] and check.series == 4 and check.points == len(first) + len(old) + 1
    with any_runtime.ctx.db.engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM measurement WHERE batch_id = :b"), {"b": excluded}).scalar() == 2
        )
    with any_runtime.ctx.db.engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT p.seq, s.variant_id, p.value, p.step FROM measurement p JOIN result_summary s "
                "ON s.id = p.series_id WHERE p.batch_id = :b AND s.metric = 'm' ORDER BY p.seq"
            ),
            {"b": batch_id},
        ).all()
    assert [(v, x, s) for _, v, x, s in kept] == [(variant_ids[n], x, s) for n, x, s in old]
    assert [seq for seq, *_ in kept] == list(range(len(old)))
    _assert_exact(await call(any_client, "experiment_compare", experiment_id=experiment_id), values)
    other = await call(any_client, "experiment_compare", experiment_id=experiment_id, metric="other")
    assert [(r["name"], r["n"], r["mean"]) for r in other["variants"] if r["n"]] == [("a", 1, 42.0)]
    # New batches merge into the migrated summaries.
    more = [{"variant": "c", "metric": "m", "value": float(k)} for k in range(5)]
    await call(any_client, "result_log", experiment_id=experiment_id, points=more)
    values["c"] += [p["value"] for p in more]
    _assert_exact(await call(any_client, "experiment_compare", experiment_id=experiment_id), values)


@pytest.mark.anyio
async def test_verify_summaries_names_a_tampered_summary(client, runtime, sqlite_url) -> None:
    experiment_id = await _experiment(client)
    points = [{"variant": n, "metric": "latency", "value": float(k)} for k, n in enumerate(VARIANTS * 3)]
    await call(client, "result_log", experiment_id=experiment_id, points=points)
    other = await _experiment(client)
    await call(client, "result_log", experiment_id=other, points=points[:2])

    ok = CliRunner().invoke(app, ["experiments", "verify-summaries", "--db", sqlite_url])
    assert ok.exit_code == 0, ok.output
    assert "summaries OK: 2 experiment(s)" in ok.output and f"{experiment_id}: 3 series, 9 points: OK" in ok.output

    with runtime.ctx.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE result_summary SET mean = mean + 0.5 WHERE experiment_id = :e AND variant_id = :v"),
            {
                "e": experiment_id,
                "v": (await call(client, "experiment_get", experiment_id=experiment_id))["variants"][1]["id"],
            },
        )
    bad = CliRunner().invoke(app, ["experiments", "verify-summaries", "--db", sqlite_url])
    assert bad.exit_code == 1, bad.output
    assert "summaries DIFFER in 1 of 2 experiment(s)" in bad.output
    assert "'latency' of var_" in bad.output and "mean=4.5" in bad.output and "mean=4.0" in bad.output

    one = CliRunner().invoke(app, ["experiments", "verify-summaries", other, "--db", sqlite_url])
    assert one.exit_code == 0 and "summaries OK: 1 experiment(s)" in one.output, one.output
    unknown = CliRunner().invoke(app, ["experiments", "verify-summaries", "exp_nope", "--db", sqlite_url])
    assert unknown.exit_code == 2 and "experiment_id" in unknown.output


@pytest.mark.anyio
async def test_a_batch_that_fails_late_leaves_the_summaries_as_they_were(client, runtime, monkeypatch) -> None:
    """Nothing half-written: when the points' insert fails after the summaries were merged, the transaction takes
    the merge back with it."""
    from cublab.store import results

    experiment_id = await _experiment(client)
    await call(
        client, "result_log", experiment_id=experiment_id, points=[{"variant": "a", "metric": "m", "value": 1.0}]
    )
    insert = results.insert_points

    def failing(conn, rows) -> None:
        insert(conn, rows)
        raise OSError("disk full")

    monkeypatch.setattr(results, "insert_points", failing)
    result = await client.call_tool(
        "result_log",
        {"experiment_id": experiment_id, "points": [{"variant": v, "metric": "m", "value": 2.0} for v in VARIANTS]},
    )
    assert result.is_error
    monkeypatch.setattr(results, "insert_points", insert)
    [check] = runtime.experiments.verify_summaries(experiment_id)
    assert check.differences == [] and check.points == 1 and check.series == 1
    comparison = await call(client, "experiment_compare", experiment_id=experiment_id)
    assert [(r["name"], r["n"]) for r in comparison["variants"]] == [("a", 1), ("b", 0), ("c", 0)]
