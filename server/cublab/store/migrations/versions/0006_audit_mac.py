"""audit events carry a MAC made with the audit key, kept outside the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

Events written before this revision have no MAC; `cublab audit seal` authenticates
them once their hashes verify.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("mac")
