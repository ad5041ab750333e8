"""bearer tokens for the shared HTTP server; per-principal quota overrides; result batches by time (quotas)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from cublab.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_token",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("toolsets", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_agent_token_agent", "agent_token", ["agent"])
    op.create_table(
        "quota_override",
        sa.Column("principal", sa.String(length=200), primary_key=True),
        sa.Column("name", sa.String(length=40), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_result_batch_created_at", "result_batch", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_result_batch_created_at", table_name="result_batch")
    op.drop_table("quota_override")
    op.drop_index("ix_agent_token_agent", table_name="agent_token")
    op.drop_table("agent_token")
