"""bypass decisions, incidents, obligations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import cublab.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bypass_decision",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("criterion", sa.Integer(), nullable=True),
        sa.Column("also_matched", sa.JSON(), nullable=False),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("reconciliation", sa.JSON(), nullable=False),
        sa.Column("audit_requirement", sa.Text(), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("inputs_digest", sa.String(length=80), nullable=False),
        sa.Column("policy_digest", sa.String(length=80), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bypass_decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bypass_decision_criterion"), ["criterion"], unique=False)
        batch_op.create_index(batch_op.f("ix_bypass_decision_verdict"), ["verdict"], unique=False)

    op.create_table(
        "incident",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("declared_by", sa.String(length=200), nullable=False),
        sa.Column("policy_digest", sa.String(length=80), nullable=False),
        sa.Column("declared_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "obligation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("incident_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=401), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.Column("met_at", cublab.store.types.UTCDateTime(), nullable=True),
        sa.Column("met_by", sa.String(length=200), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("obligation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_obligation_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_obligation_status"), ["status"], unique=False)

    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="variant", nullable=False))
        batch_op.add_column(sa.Column("incident_id", sa.String(length=80), nullable=True))
        batch_op.alter_column("experiment_id", existing_type=sa.VARCHAR(length=40), nullable=True)
        batch_op.alter_column("variant_id", existing_type=sa.VARCHAR(length=40), nullable=True)
        batch_op.create_index(batch_op.f("ix_proposal_incident_id"), ["incident_id"], unique=False)
        batch_op.create_foreign_key("fk_proposal_incident", "incident", ["incident_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint("fk_proposal_incident", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_proposal_incident_id"))
        batch_op.alter_column("variant_id", existing_type=sa.VARCHAR(length=40), nullable=False)
        batch_op.alter_column("experiment_id", existing_type=sa.VARCHAR(length=40), nullable=False)
        batch_op.drop_column("incident_id")
        batch_op.drop_column("kind")

    with op.batch_alter_table("obligation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obligation_status"))
        batch_op.drop_index(batch_op.f("ix_obligation_incident_id"))

    op.drop_table("obligation")
    op.drop_table("incident")
    with op.batch_alter_table("bypass_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bypass_decision_verdict"))
        batch_op.drop_index(batch_op.f("ix_bypass_decision_criterion"))

    op.drop_table("bypass_decision")
