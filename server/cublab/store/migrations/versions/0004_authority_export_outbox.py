"""authority export outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import cublab.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authority_export",
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("authority", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", cublab.store.types.UTCDateTime(), nullable=True),
        sa.Column("change_set_id", sa.String(length=64), nullable=True),
        sa.Column("change_set_slug", sa.String(length=200), nullable=False),
        sa.Column("space_id", sa.String(length=64), nullable=True),
        sa.Column("unit_space", sa.String(length=200), nullable=True),
        sa.Column("unit_space_id", sa.String(length=64), nullable=True),
        sa.Column("unit_id", sa.String(length=64), nullable=True),
        sa.Column("unit_slug", sa.String(length=200), nullable=True),
        sa.Column("revision_num", sa.Integer(), nullable=True),
        sa.Column("observed", sa.JSON(), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", cublab.store.types.UTCDateTime(), nullable=True),
        sa.Column("synced_at", cublab.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposal.id"], name="fk_authority_export_proposal"),
        sa.PrimaryKeyConstraint("proposal_id"),
    )
    with op.batch_alter_table("authority_export", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authority_export_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("authority_export", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authority_export_status"))

    op.drop_table("authority_export")
