"""measurement covering index ordered by batch, so inserts append

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.drop_index("ix_measurement_compare")
        batch_op.create_index(
            "ix_measurement_compare", ["experiment_id", "metric", "variant_id", "batch_id", "value"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.drop_index("ix_measurement_compare")
        batch_op.create_index(
            "ix_measurement_compare", ["experiment_id", "metric", "variant_id", "value"], unique=False
        )
