"""idempotency records; excluded result batches

A mutating tool called with an `idempotency_key` stores the key's digest, the
digest of its arguments and its first answer, in the call's own transaction.
A result batch can be excluded from comparisons by a human; its rows stay.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

import cublab.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_record",
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("key_digest", sa.String(length=80), nullable=False),
        sa.Column("arguments_digest", sa.String(length=80), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "tool", "key_digest"),
    )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_record_created_at"), ["created_at"], unique=False)
    op.add_column("result_batch", sa.Column("excluded_at", cublab.store.types.UTCDateTime(), nullable=True))
    op.add_column("result_batch", sa.Column("excluded_by", sa.String(length=200), nullable=True))
    op.add_column("result_batch", sa.Column("exclusion_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN in place (SQLite >= 3.35): batch mode would copy and drop result_batch,
    # which measurements reference, and foreign keys are on.
    for column in ("exclusion_reason", "excluded_by", "excluded_at"):
        op.execute(f"ALTER TABLE result_batch DROP COLUMN {column}")
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_record_created_at"))
    op.drop_table("idempotency_record")
