"""running summaries per series; measurements keyed by integers

`result_summary` holds one row per (experiment, metric, variant): n, mean, M2,
min and max, which `result_log` merges with every batch and `experiment_compare`
reads. Existing databases get their summaries built here from the measurements
(math.fsum, exactly rounded), leaving out the points of batches a human
excluded (0008). `measurement` becomes narrow: keyed by
(batch_id, seq), the series as the summary row's integer id, no covering index
(WITHOUT ROWID on SQLite). `result_batch` gets an index on (experiment_id,
excluded_at).
Points keep their batch and their order within it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

import math
from array import array

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _moments(values: array) -> tuple[int, float, float, float, float]:
    """n, mean, M2, min, max as domain/stats.py `moments` computed them when this was written (frozen here).
    Values stored before they were limited to ±1e15 may overflow: then mean and M2 are infinite, and compare
    says the values are too large, as it did before."""
    n = len(values)
    try:
        mean = math.fsum(values) / n
        m2 = math.fsum([(x - mean) * (x - mean) for x in values])
    except OverflowError:
        mean = m2 = math.inf
    if not math.isfinite(m2):
        m2 = math.inf
    return n, mean, m2, min(values), max(values)


def _create_summary_table() -> None:
    op.create_table(
        "result_summary",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.String(length=40), sa.ForeignKey("experiment.id"), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=False),
        sa.Column("variant_id", sa.String(length=40), sa.ForeignKey("variant.id"), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("mean", sa.Float(precision=53), nullable=False),
        sa.Column("m2", sa.Float(precision=53), nullable=False),
        sa.Column("min", sa.Float(precision=53), nullable=True),
        sa.Column("max", sa.Float(precision=53), nullable=True),
        sa.UniqueConstraint("experiment_id", "metric", "variant_id", name="uq_result_summary_series"),
    )


def upgrade() -> None:
    conn = op.get_bind()
    _create_summary_table()
    op.create_table(
        "measurement_narrow",
        sa.Column("batch_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=True),
        sa.Column("repetition", sa.Integer(), nullable=True),
        sqlite_with_rowid=False,
    )

    # A series row for every (experiment, metric, variant) with points, counted or not (the points of an
    # excluded batch keep their series); then the moments of the counted points, one series at a time,
    # streamed in the covering index's order.
    conn.execute(
        sa.text(
            "INSERT INTO result_summary (experiment_id, metric, variant_id, n, mean, m2) "
            "SELECT DISTINCT experiment_id, metric, variant_id, 0, 0.0, 0.0 FROM measurement"
        )
    )
    rows = conn.execute(
        sa.text(
            "SELECT m.experiment_id, m.metric, m.variant_id, m.value FROM measurement m "
            "WHERE m.batch_id NOT IN (SELECT id FROM result_batch WHERE excluded_at IS NOT NULL) "
            "ORDER BY m.experiment_id, m.metric, m.variant_id"
        ),
        execution_options={"stream_results": True, "yield_per": 20_000},
    )
    update = sa.text(
        "UPDATE result_summary SET n = :n, mean = :mean, m2 = :m2, min = :lo, max = :hi "
        "WHERE experiment_id = :e AND metric = :metric AND variant_id = :v"
    )
    current, values = None, array("d")

    def flush() -> None:
        if current is not None:
            n, mean, m2, lo, hi = _moments(values)
            conn.execute(
                update,
                {
                    "n": n,
                    "mean": mean,
                    "m2": m2,
                    "lo": lo,
                    "hi": hi,
                    "e": current[0],
                    "metric": current[1],
                    "v": current[2],
                },
            )

    for experiment_id, metric, variant_id, value in rows:
        key = (experiment_id, metric, variant_id)
        if key != current:
            flush()
            current, values = key, array("d")
        values.append(value)
    flush()

    conn.execute(
        sa.text(
            "INSERT INTO measurement_narrow (batch_id, seq, series_id, value, step, repetition) "
            "SELECT m.batch_id, ROW_NUMBER() OVER (PARTITION BY m.batch_id ORDER BY m.id) - 1, s.id, m.value, m.step, "
            "m.repetition FROM measurement m JOIN result_summary s ON s.experiment_id = m.experiment_id "
            "AND s.metric = m.metric AND s.variant_id = m.variant_id ORDER BY m.batch_id, m.id"
        )
    )
    op.drop_index("ix_measurement_compare", table_name="measurement")
    op.drop_table("measurement")
    op.rename_table("measurement_narrow", "measurement")
    with op.batch_alter_table("result_batch", schema=None) as batch_op:
        batch_op.create_index("ix_result_batch_experiment_excluded", ["experiment_id", "excluded_at"], unique=False)


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("result_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_result_batch_experiment_excluded")
    op.rename_table("measurement", "measurement_narrow")
    op.create_table(
        "measurement",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.String(length=40), sa.ForeignKey("experiment.id"), nullable=False),
        sa.Column("variant_id", sa.String(length=40), sa.ForeignKey("variant.id"), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("result_batch.id"), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=True),
        sa.Column("repetition", sa.Integer(), nullable=True),
    )
    conn.execute(
        sa.text(
            "INSERT INTO measurement (experiment_id, variant_id, batch_id, metric, value, step, repetition) "
            "SELECT s.experiment_id, s.variant_id, p.batch_id, s.metric, p.value, p.step, p.repetition "
            "FROM measurement_narrow p JOIN result_summary s ON s.id = p.series_id ORDER BY p.batch_id, p.seq"
        )
    )
    op.create_index(
        "ix_measurement_compare",
        "measurement",
        ["experiment_id", "metric", "variant_id", "batch_id", "value"],
        unique=False,
    )
    op.drop_table("measurement_narrow")
    op.drop_table("result_summary")
