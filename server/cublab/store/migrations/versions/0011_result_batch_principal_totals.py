"""result batches carry their principal and its running total of points (the points_per_hour quota)

`result_batch` gets `principal` (the principal of `created_by`) and `principal_total` (the
points that principal logged up to and including the batch), and an index on (principal,
created_at, principal_total), so the quota's hour is the difference of two totals read in
two index seeks (app/quotas.py). Existing batches get both, in (created_at, id) order per
principal.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from cublab.domain.identity import principal_of

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("result_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("principal", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("principal_total", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    totals: dict[str, int] = {}
    rows = []
    for batch_id, created_by, point_count in conn.execute(
        sa.text("SELECT id, created_by, point_count FROM result_batch ORDER BY created_at, id")
    ):
        principal = principal_of(created_by)
        totals[principal] = totals.get(principal, 0) + int(point_count)
        rows.append({"id": batch_id, "p": principal, "t": totals[principal]})
    if rows:
        conn.execute(sa.text("UPDATE result_batch SET principal = :p, principal_total = :t WHERE id = :id"), rows)
    with op.batch_alter_table("result_batch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_result_batch_principal_total", ["principal", "created_at", "principal_total"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("result_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_result_batch_principal_total")
        batch_op.drop_column("principal_total")
        batch_op.drop_column("principal")
