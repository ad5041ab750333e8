"""embedded authority and proposals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import cublab.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ch_space",
        sa.Column("space_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("space_id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "ch_change_set",
        sa.Column("change_set_id", sa.String(length=40), nullable=False),
        sa.Column("space_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["ch_space.space_id"],
        ),
        sa.PrimaryKeyConstraint("change_set_id"),
        sa.UniqueConstraint("space_id", "slug", name="uq_change_set_slug"),
    )
    op.create_table(
        "ch_tag",
        sa.Column("tag_id", sa.String(length=40), nullable=False),
        sa.Column("space_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["ch_space.space_id"],
        ),
        sa.PrimaryKeyConstraint("tag_id"),
        sa.UniqueConstraint("space_id", "slug", name="uq_tag_slug"),
    )
    op.create_table(
        "ch_unit",
        sa.Column("unit_id", sa.String(length=40), nullable=False),
        sa.Column("space_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("toolchain_type", sa.String(length=80), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("head_revision_num", sa.Integer(), nullable=False),
        sa.Column("live_revision_num", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_change_description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["ch_space.space_id"],
        ),
        sa.PrimaryKeyConstraint("unit_id"),
        sa.UniqueConstraint("space_id", "slug", name="uq_unit_slug"),
    )
    op.create_table(
        "ch_revision",
        sa.Column("revision_id", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.String(length=40), nullable=True),
        sa.Column("space_id", sa.String(length=40), nullable=False),
        sa.Column("unit_slug", sa.String(length=200), nullable=False),
        sa.Column("revision_num", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("data_hash", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.JSON(), nullable=False),
        sa.Column("change_set_id", sa.String(length=40), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("base_revision_num", sa.Integer(), nullable=True),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_set_id"],
            ["ch_change_set.change_set_id"],
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["ch_space.space_id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["ch_unit.unit_id"],
        ),
        sa.PrimaryKeyConstraint("revision_id"),
        sa.UniqueConstraint("unit_id", "revision_num", name="uq_revision_num"),
    )
    with op.batch_alter_table("ch_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ch_revision_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "proposal",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("experiment_id", sa.String(length=40), nullable=False),
        sa.Column("variant_id", sa.String(length=40), nullable=False),
        sa.Column("target_space", sa.String(length=200), nullable=False),
        sa.Column("target_unit", sa.String(length=200), nullable=False),
        sa.Column("new_unit", sa.Boolean(), nullable=False),
        sa.Column("base_revision_num", sa.Integer(), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("patch", sa.JSON(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("proposer", sa.String(length=200), nullable=False),
        sa.Column("proposer_model", sa.String(length=200), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("risk_class", sa.String(length=8), nullable=False),
        sa.Column("risk_rationale", sa.JSON(), nullable=False),
        sa.Column("requirement", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("authority", sa.String(length=40), nullable=False),
        sa.Column("change_set_id", sa.String(length=40), nullable=True),
        sa.Column("revision_id", sa.String(length=40), nullable=True),
        sa.Column("policy_digest", sa.String(length=80), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.Column("decided_at", cublab.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_experiment_id"), ["experiment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposal_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposal_variant_id"), ["variant_id"], unique=False)

    op.create_table(
        "proposal_decision",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=80), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", cublab.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposal.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proposal_decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_decision_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("proposal_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_decision_proposal_id"))

    op.drop_table("proposal_decision")
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_variant_id"))
        batch_op.drop_index(batch_op.f("ix_proposal_state"))
        batch_op.drop_index(batch_op.f("ix_proposal_experiment_id"))

    op.drop_table("proposal")
    with op.batch_alter_table("ch_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ch_revision_unit_id"))

    op.drop_table("ch_revision")
    op.drop_table("ch_unit")
    op.drop_table("ch_tag")
    op.drop_table("ch_change_set")
    op.drop_table("ch_space")
