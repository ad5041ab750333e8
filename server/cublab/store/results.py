"""Result batches, their points and their series' running statistics, straight through the driver.

`result_log` is the one high-volume write: a batch of up to 10,000 points costs a
handful of statements here, whatever its size. The series a batch touches are
merged in the batch's transaction (domain/stats.py `merge`): rows are read, created
if missing (a series' first batch), and rewritten. Concurrent writers stay correct on both backends:
SQLite writers are serialised by `BEGIN IMMEDIATE` and the writer lock (store/db.py);
on PostgreSQL the rows are locked with `SELECT ... FOR UPDATE`, always in
(metric, variant) order, so two batches of one experiment queue instead of
deadlocking, and the later one merges into what the earlier one committed.
Points go in with multi-row INSERTs on SQLite and `COPY` on PostgreSQL.

Table and column names here are constants, never input.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import sqlite3
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any

from sqlalchemy import Connection, Dialect

from cublab.domain.stats import EMPTY, Moments, merge, moments
from cublab.store.tables import ResultBatch, Sandbox, table_of

Series = tuple[str, str]  # (variant_id, metric)

_POINT_COLUMNS = "batch_id, seq, series_id, value, step, repetition"


@functools.cache
def _time(dialect: Dialect) -> Callable[[datetime], Any]:
    """How the column type binds a time on this dialect (store/types.py UTCDateTime: naive UTC)."""
    column_type = table_of(ResultBatch).c.created_at.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    return process


@functools.cache
def _read_time(dialect: Dialect) -> Callable[[Any], Any]:
    """How the column type reads a time back on this dialect (timezone-aware UTC)."""
    column_type = table_of(Sandbox).c.expires_at.type
    process = column_type.dialect_impl(dialect).result_processor(dialect, None)
    assert process is not None
    return process


@dataclass(frozen=True)
class Target:
    """What a batch needs to know about its experiment before writing: who may write, whether its sandbox is
    live, and its variants by id and by name."""

    owner: str
    sandbox_id: str
    sandbox_status: str
    sandbox_expires_at: datetime
    variants: dict[str, str]  # id -> id and name -> id


def target(conn: Connection, experiment_id: str) -> Target | None:
    """The experiment's owner, its sandbox's state and its variants, in the caller's transaction: one query, a row
    per variant (one row with no variant when it has none)."""
    m = _mark(conn)
    rows = (
        _driver(conn)
        .execute(
            f"SELECT e.owner, s.id, s.status, s.expires_at, v.id, v.name FROM experiment e "
            f"JOIN sandbox s ON s.id = e.sandbox_id LEFT JOIN variant v ON v.experiment_id = e.id WHERE e.id = {m}",
            (experiment_id,),
        )
        .fetchall()
    )
    if not rows:
        return None
    owner, sandbox_id, status, expires_at = rows[0][:4]
    variants = [(vid, name) for *_, vid, name in rows if vid is not None]
    resolve = {vid: vid for vid, _ in variants} | {name: vid for vid, name in variants}
    return Target(owner, sandbox_id, status, _read_time(conn.dialect)(expires_at), resolve)


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _driver(conn: Connection) -> Any:
    """The driver's connection under `conn`, in `conn`'s transaction, for result_log's statements.

    SQLAlchemy's execution path costs more than most of these statements (a connection-level `execute` on
    sqlite3 and psycopg 3 alike, which take the same SQL and parameters `exec_driver_sql` would pass through):
    result_log runs about ten per batch. Its errors are the driver's own, which app/faults.py classifies like
    SQLAlchemy's wrappers of them.
    """
    return conn.connection.driver_connection


def insert_batch(
    conn: Connection,
    experiment_id: str,
    point_count: int,
    digest: str,
    created_by: str,
    principal: str,
    created_at: datetime,
) -> int:
    """The batch row, with its principal's running total of points (the previous batch's plus this one's); its id.

    Exact when the principal's writers are serialised (SQLite's writer lock; the quota check's lock on
    PostgreSQL), as result_log's are."""
    m = _mark(conn)
    [(batch_id,)] = (
        _driver(conn)
        .execute(
            "INSERT INTO result_batch (experiment_id, point_count, digest, created_by, created_at, principal, "
            f"principal_total) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m} + COALESCE(({_LAST_TOTAL.format(m=m)}), 0)) "
            "RETURNING id",
            (
                experiment_id,
                point_count,
                digest,
                created_by,
                _time(conn.dialect)(created_at),
                principal,
                point_count,
                principal,
            ),
        )
        .fetchall()
    )
    return int(batch_id)


# The principal's latest running total (ties in time broken by the total, which grows with every batch): one seek
# into ix_result_batch_principal_total. {m} is the driver's parameter mark.
_LAST_TOTAL = (
    "SELECT principal_total FROM result_batch WHERE principal = {m} "
    "ORDER BY created_at DESC, principal_total DESC LIMIT 1"
)
_LAST_TOTAL_UNTIL = (
    "SELECT principal_total FROM result_batch WHERE principal = {m} AND created_at <= {m} "
    "ORDER BY created_at DESC, principal_total DESC LIMIT 1"
)


def points_since(conn: Connection, principal: str, since: datetime) -> int:
    """The points `principal` logged after `since`: its latest running total less its total at `since`. Two index
    seeks, however many batches there are."""
    m = _mark(conn)
    [(latest, before)] = (
        _driver(conn)
        .execute(
            f"SELECT ({_LAST_TOTAL.format(m=m)}), ({_LAST_TOTAL_UNTIL.format(m=m)})",
            (principal, principal, _time(conn.dialect)(since)),
        )
        .fetchall()
    )
    return int(latest or 0) - int(before or 0)


def quota_override(conn: Connection, principal: str, name: str) -> int | None:
    """The value a human set for quota `name` of `principal` (app/quotas.py), if any: one primary-key seek."""
    m = _mark(conn)
    rows = (
        _driver(conn)
        .execute(f"SELECT value FROM quota_override WHERE principal = {m} AND name = {m}", (principal, name))
        .fetchall()
    )
    return int(rows[0][0]) if rows else None


def _moments(row: Sequence[Any]) -> Moments:
    n, mean, m2, lo, hi = row
    return Moments(int(n), float(mean), float(m2), lo, hi)


def merge_series(conn: Connection, experiment_id: str, parts: dict[Series, Moments]) -> dict[Series, int]:
    """Merge each series' batch moments into its stored moments; the series' ids.

    The stored rows are read and locked first, in (metric, variant) order; only a batch that brings a new series
    creates its row (the rare case: a series' first batch) and reads again. A writer waits for rows in that order,
    and for rows another writer is creating only once it holds all the existing ones it needs, so two writers
    never wait for each other.
    """
    m = _mark(conn)
    keys = sorted(parts, key=lambda key: (key[1], key[0]))  # one lock order for every writer
    metrics = sorted({metric for _, metric in keys})
    lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"
    driver = _driver(conn)
    select = (
        f"SELECT id, variant_id, metric, n, mean, m2, min, max FROM result_summary WHERE experiment_id = {m} "
        f"AND metric IN ({', '.join([m] * len(metrics))}) ORDER BY metric, variant_id{lock}"
    )
    stored = {(row[1], row[2]): row for row in driver.execute(select, (experiment_id, *metrics)).fetchall()}
    missing = [key for key in keys if key not in stored]
    if missing:
        driver.cursor().executemany(
            f"INSERT INTO result_summary (experiment_id, metric, variant_id, n, mean, m2) "
            f"VALUES ({m}, {m}, {m}, 0, 0.0, 0.0) ON CONFLICT (experiment_id, metric, variant_id) DO NOTHING",
            [(experiment_id, metric, variant) for variant, metric in missing],
        )
        stored = {(row[1], row[2]): row for row in driver.execute(select, (experiment_id, *metrics)).fetchall()}
    ids: dict[Series, int] = {}
    updates = []
    for key in keys:
        row = stored[key]
        merged = merge(_moments(row[3:]), parts[key])
        ids[key] = row[0]
        updates.append((merged.n, merged.mean, merged.m2, merged.minimum, merged.maximum, row[0]))
    driver.cursor().executemany(
        f"UPDATE result_summary SET n = {m}, mean = {m}, m2 = {m}, min = {m}, max = {m} WHERE id = {m}", updates
    )
    return ids


@dataclass(frozen=True)
class PointColumns:
    """A batch's points as the measurement table's columns, one entry per point in batch order (its `seq`)."""

    batch_id: int
    series_ids: Sequence[int]
    values: Sequence[float]
    steps: Sequence[int | None]
    repetitions: Sequence[int | None]


_ROWS_PER_INSERT = 256  # rows per multi-row INSERT on SQLite: 1,536 parameters


@functools.cache
def _insert_rows(rows: int) -> str:
    return f"INSERT INTO measurement ({_POINT_COLUMNS}) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)


def insert_points(conn: Connection, points: PointColumns) -> None:
    """A batch's points: `COPY` on PostgreSQL; multi-row INSERTs on SQLite.

    sqlite3's `executemany` spends about as long per row as the insert itself, where an INSERT of many rows
    binds them all at once: half the time for a batch. The rows go in 256 at a time (fewer if SQLite was built
    with a lower limit on parameters), the rest as INSERTs of 128, 64, ... 1 rows, so a connection prepares a
    handful of statements, whatever the batch sizes, and sqlite3's statement cache keeps them. The parameters
    are the columns interleaved by slice assignment, no tuple per point.
    """
    n = len(points.values)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        rows = zip(
            repeat(points.batch_id),
            range(n),
            points.series_ids,
            points.values,
            points.steps,
            points.repetitions,
            strict=False,  # repeat() is endless; the other columns have one entry per point
        )
        with raw.cursor() as cursor, cursor.copy(f"COPY measurement ({_POINT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    driver = _driver(conn)
    per_insert = min(_ROWS_PER_INSERT, driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 6)
    flat: list[Any] = [None] * (6 * n)
    flat[0::6] = repeat(points.batch_id, n)
    flat[1::6] = range(n)
    flat[2::6] = points.series_ids
    flat[3::6] = points.values
    flat[4::6] = points.steps
    flat[5::6] = points.repetitions
    start = 0
    while start < n:
        count = per_insert if n - start >= per_insert else 1 << ((n - start).bit_length() - 1)
        driver.execute(_insert_rows(count), flat[6 * start : 6 * (start + count)])
        start += count


@dataclass(frozen=True)
class Compared:
    """What a comparison reads: the experiment's objective and direction, its variants (id, name) by id, and
    the stored moments of one metric by variant id."""

    objective_metric: str
    direction: str
    variants: list[tuple[str, str]]
    moments: dict[str, Moments]
    has_excluded: bool  # a human excluded some of its batches: the comparison lists them


def compared(conn: Connection, experiment_id: str, metric: str | None) -> Compared | None:
    """Two queries, whatever the number of points: the experiment, then its variants joined to their summaries
    of `metric` (default: the objective). None when the experiment does not exist."""
    m = _mark(conn)
    row = conn.exec_driver_sql(
        f"SELECT objective_metric, direction, EXISTS (SELECT 1 FROM result_batch WHERE experiment_id = {m} "
        f"AND excluded_at IS NOT NULL) FROM experiment WHERE id = {m}",
        (experiment_id, experiment_id),
    ).first()
    if row is None:
        return None
    metric = metric or row[0]
    variants, found = [], {}
    for vid, name, *summary in conn.exec_driver_sql(
        f"SELECT v.id, v.name, s.n, s.mean, s.m2, s.min, s.max FROM variant v LEFT JOIN result_summary s "
        f"ON s.experiment_id = v.experiment_id AND s.variant_id = v.id AND s.metric = {m} "
        f"WHERE v.experiment_id = {m} ORDER BY v.id",
        (metric, experiment_id),
    ):
        variants.append((vid, name))
        if summary[0]:  # a series with points
            found[vid] = _moments(summary)
    return Compared(row[0], row[1], variants, found, bool(row[2]))


def counts(conn: Connection, experiment_id: str) -> list[tuple[str, str, int]]:
    """(variant_id, metric, n) of every series that holds points, by variant then metric."""
    m = _mark(conn)
    rows = conn.exec_driver_sql(
        f"SELECT variant_id, metric, n FROM result_summary WHERE experiment_id = {m} AND n > 0 "
        "ORDER BY variant_id, metric",
        (experiment_id,),
    ).all()
    return [(v, metric, int(n)) for v, metric, n in rows]


def stored(conn: Connection, experiment_id: str) -> dict[Series, tuple[int, Moments]]:
    """Every series of the experiment as stored: its id and moments."""
    m = _mark(conn)
    rows = conn.exec_driver_sql(
        f"SELECT id, variant_id, metric, n, mean, m2, min, max FROM result_summary WHERE experiment_id = {m}",
        (experiment_id,),
    ).all()
    return {(row[1], row[2]): (row[0], _moments(row[3:])) for row in rows}


def recompute(conn: Connection, experiment_id: str, series: Iterable[int] | None = None) -> dict[int, Moments]:
    """Series' moments computed afresh from their measurements (math.fsum), by series id, leaving out the points
    of batches a human excluded: the slow, sure way. `series` limits it to some series (default: all).

    Values are gathered per series in float arrays (8 bytes a point), reading the
    experiment's batches in order, one range of the primary key each.
    """
    m = _mark(conn)
    wanted = None if series is None else set(series)
    values: dict[int, array[float]] = {}
    result = conn.exec_driver_sql(
        f"SELECT p.series_id, p.value FROM result_batch b JOIN measurement p ON p.batch_id = b.id "
        f"WHERE b.experiment_id = {m} AND b.excluded_at IS NULL ORDER BY b.id, p.seq",
        (experiment_id,),
    )
    for series_id, value in result:
        if wanted is not None and series_id not in wanted:
            continue
        column = values.get(series_id)
        if column is None:
            column = values[series_id] = array("d")
        column.append(value)
    return {series_id: moments(column) for series_id, column in values.items()}


def rebuild_batch_series(conn: Connection, batch_id: int) -> None:
    """Recompute, from the points, the summaries of every series a batch holds points of: after a human excluded
    the batch or counted it again (app/batches.py). The rare path, and a slow one: it reads every point of the
    experiment. The rows are locked first in the order result_log locks them, so a batch logged meanwhile is
    either counted in the recomputation or merged after it, never lost."""
    m = _mark(conn)
    experiment_id = conn.exec_driver_sql(
        f"SELECT experiment_id FROM result_batch WHERE id = {m}", (batch_id,)
    ).scalar_one()
    lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"
    ids = [
        row[0]
        for row in conn.exec_driver_sql(
            f"SELECT id FROM result_summary WHERE id IN (SELECT DISTINCT series_id FROM measurement "
            f"WHERE batch_id = {m}) ORDER BY metric, variant_id{lock}",
            (batch_id,),
        )
    ]
    fresh = recompute(conn, experiment_id, ids)
    conn.exec_driver_sql(
        f"UPDATE result_summary SET n = {m}, mean = {m}, m2 = {m}, min = {m}, max = {m} WHERE id = {m}",
        [
            (s.n, s.mean, s.m2, s.minimum, s.maximum, series_id)
            for series_id, s in ((i, fresh.get(i, EMPTY)) for i in ids)
        ],
    )


def batches_over(conn: Connection, experiment_id: str, metric: str, limit: float) -> list[int]:
    """The counted batches holding a value of `metric` beyond ±limit (logged before values were limited)."""
    m = _mark(conn)
    rows = conn.exec_driver_sql(
        f"SELECT DISTINCT p.batch_id FROM result_batch b JOIN measurement p ON p.batch_id = b.id "
        f"JOIN result_summary s ON s.id = p.series_id WHERE b.experiment_id = {m} AND b.excluded_at IS NULL "
        f"AND s.metric = {m} AND abs(p.value) > {m} ORDER BY p.batch_id",
        (experiment_id, metric, limit),
    ).all()
    return [row[0] for row in rows]


def metrics(conn: Connection, experiment_id: str) -> list[str]:
    """Every metric the experiment has points of (counted or excluded), in name order: its series, not its points."""
    m = _mark(conn)
    rows = conn.exec_driver_sql(
        f"SELECT DISTINCT metric FROM result_summary WHERE experiment_id = {m} ORDER BY metric", (experiment_id,)
    ).all()
    return [row[0] for row in rows]


def batch_metrics(conn: Connection, batch_ids: Sequence[int]) -> dict[int, list[str]]:
    """The metrics each batch holds points of, in name order. Reads the batches' points (one primary-key range
    each, at most 10,000 points a batch): bounded by the page of batches, never the experiment."""
    if not batch_ids:
        return {}
    m = _mark(conn)
    rows = conn.exec_driver_sql(
        f"SELECT DISTINCT p.batch_id, s.metric FROM measurement p JOIN result_summary s ON s.id = p.series_id "
        f"WHERE p.batch_id IN ({', '.join([m] * len(batch_ids))}) ORDER BY p.batch_id, s.metric",
        tuple(batch_ids),
    ).all()
    held: dict[int, list[str]] = {}
    for batch_id, metric in rows:
        held.setdefault(batch_id, []).append(metric)
    return held


_SAMPLE_OVERDRAW = 1.25  # probes per wanted value: a stratified draw lands near its expectation, rarely short
_SAMPLE_PROBES_PER_VALUE = 4  # at most this many primary-key probes per value the chart may get
_PROBE_CHUNK = 400  # (batch_id, seq) pairs per statement: 800 parameters, under every backend's limit


def sample(
    conn: Connection, experiment_id: str, metric: str, sizes: dict[str, int], limit: int
) -> dict[str, list[float]]:
    """At most `limit` counted values of `metric` per variant, deterministically, at a cost bounded by `limit` and
    the number of variants, not by the number of points.

    The counted (not excluded) batches' points are numbered end to end (a batch holds `seq` 0 to its
    `point_count` - 1); P positions are drawn, one at a random offset in each of P equal strata (seeded by the
    experiment and metric: deterministic, and no stride of a load generator can alias with it), and fetched by
    primary key. P is sized so that the series needing the highest rate (`limit` of its `n`, from the summaries
    in `sizes`) expects 1.25x `limit` values, but never more than 4 probes per value the chart may get. A series
    still short of min(`limit`, n) afterwards (one whose points are few among many: a variant logged in a few
    batches) is topped up with its first points in logging order, up to 4x `limit` of them (a per-series query with a
    LIMIT: bounded rows,
    though it reads through other series' points until it finds them: there is no per-series index, nothing on
    the hot path needs one). A series with more than `limit` values found keeps `limit` of them spread evenly in
    logging order."""
    m = _mark(conn)
    series = {
        row[0]: row[1]
        for row in conn.exec_driver_sql(
            f"SELECT id, variant_id FROM result_summary WHERE experiment_id = {m} AND metric = {m}",
            (experiment_id, metric),
        )
        if sizes.get(row[1])
    }
    if not series:
        return {}
    batches = conn.exec_driver_sql(
        f"SELECT id, point_count FROM result_batch WHERE experiment_id = {m} AND excluded_at IS NULL ORDER BY id",
        (experiment_id,),
    ).all()
    starts, total = [], 0
    for _, count in batches:
        starts.append(total)
        total += count
    cap = _SAMPLE_PROBES_PER_VALUE * limit * len(series)
    rates = [_SAMPLE_OVERDRAW * min(limit, sizes[v]) / sizes[v] for v in series.values()]
    fitting = [rate for rate in rates if rate * total <= cap]
    probes = total if total <= cap else min(cap, math.ceil(max(fitting) * total)) if fitting else cap
    draw = random.Random(f"{experiment_id}\x00{metric}")
    stride = total / probes if probes else 0.0
    keys = []
    for i in range(probes):
        position = min(total - 1, int((i + draw.random()) * stride))
        b = bisect.bisect_right(starts, position) - 1
        keys.append((batches[b][0], position - starts[b]))
    found: dict[int, dict[tuple[int, int], float]] = {sid: {} for sid in series}
    for chunk in range(0, len(keys), _PROBE_CHUNK):
        part = keys[chunk : chunk + _PROBE_CHUNK]
        rows = conn.exec_driver_sql(
            f"WITH k (b, s) AS (VALUES {', '.join([f'({m}, {m})'] * len(part))}) "
            f"SELECT p.batch_id, p.seq, p.series_id, p.value FROM k JOIN measurement p "
            f"ON p.batch_id = k.b AND p.seq = k.s",
            tuple(x for key in part for x in key),
        ).all()
        for batch_id, seq, series_id, value in rows:
            if series_id in found:
                found[series_id][(batch_id, seq)] = value
    for series_id, variant_id in series.items():
        have = found[series_id]
        short = min(limit, sizes[variant_id]) - len(have)
        if short <= 0:
            continue
        topped = conn.exec_driver_sql(
            f"SELECT p.batch_id, p.seq, p.value FROM result_batch b JOIN measurement p ON p.batch_id = b.id "
            f"WHERE b.experiment_id = {m} AND b.excluded_at IS NULL AND p.series_id = {m} "
            f"ORDER BY b.id, p.seq LIMIT {m}",
            (experiment_id, series_id, min(sizes[variant_id], _SAMPLE_PROBES_PER_VALUE * limit)),
        ).all()
        for batch_id, seq, value in topped:
            have.setdefault((batch_id, seq), value)
    out: dict[str, list[float]] = {}
    for series_id, variant_id in series.items():
        values = [value for _, value in sorted(found[series_id].items())]  # logging order
        if len(values) > limit:
            values = [values[(2 * i + 1) * len(values) // (2 * limit)] for i in range(limit)]
        out[variant_id] = values
    return out


def experiment_ids(conn: Connection) -> list[str]:
    return [row[0] for row in conn.exec_driver_sql("SELECT id FROM experiment ORDER BY id").all()]
