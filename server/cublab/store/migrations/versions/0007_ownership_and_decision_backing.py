"""ownership of sandboxes and experiments; what backs a human decision

Experiments get an owner, the principal of the agent that created them
(`agent:claude-desktop-session1` -> `agent:claude-desktop`), copied from their
sandbox; sandbox owners are rewritten as principals. Decisions record the OS
account that made them, and the SSH key fingerprint and signature where one
was required. Open proposals into a space whose `tier` label is `production`
(the seed policy's `signed_decision_tiers`) are marked as needing signed
decisions, like the proposals made from now on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _principal(identity: str) -> str:
    """As domain.identity.principal_of when this migration was written (frozen here: migrations do not change)."""
    value = unicodedata.normalize("NFKC", (identity or "").strip()).casefold()
    return value.rsplit("-", 1)[0] if value.startswith("agent:") and "-" in value else value


def upgrade() -> None:
    op.add_column("experiment", sa.Column("owner", sa.String(length=200), nullable=False, server_default=""))
    op.add_column("proposal_decision", sa.Column("os_account", sa.String(length=200), nullable=True))
    op.add_column("proposal_decision", sa.Column("key_fingerprint", sa.String(length=100), nullable=True))
    op.add_column("proposal_decision", sa.Column("signature", sa.Text(), nullable=True))
    conn = op.get_bind()
    sandbox = sa.table("sandbox", sa.column("id", sa.String), sa.column("owner", sa.String))
    experiment = sa.table(
        "experiment", sa.column("id", sa.String), sa.column("sandbox_id", sa.String), sa.column("owner", sa.String)
    )
    owners = {sid: _principal(owner) for sid, owner in conn.execute(sa.select(sandbox.c.id, sandbox.c.owner))}
    for sid, owner in owners.items():
        conn.execute(sa.update(sandbox).where(sandbox.c.id == sid).values(owner=owner))
        conn.execute(sa.update(experiment).where(experiment.c.sandbox_id == sid).values(owner=owner))
    space = sa.table("ch_space", sa.column("slug", sa.String), sa.column("labels", sa.JSON))
    proposal = sa.table(
        "proposal",
        sa.column("id", sa.String),
        sa.column("state", sa.String),
        sa.column("target_space", sa.String),
        sa.column("requirement", sa.JSON),
    )
    tiers = {slug: (labels or {}).get("tier") for slug, labels in conn.execute(sa.select(space.c.slug, space.c.labels))}
    open_proposals = conn.execute(
        sa.select(proposal.c.id, proposal.c.target_space, proposal.c.requirement).where(
            proposal.c.state.in_(("pending", "approved", "queued"))
        )
    ).all()
    for pid, target_space, requirement in open_proposals:
        if isinstance(requirement, dict) and "signed" not in requirement:
            signed = tiers.get(target_space) == "production"
            conn.execute(
                sa.update(proposal).where(proposal.c.id == pid).values(requirement={**requirement, "signed": signed})
            )
    if conn.dialect.name != "sqlite":  # SQLite cannot drop a column default without rebuilding the table
        op.alter_column("experiment", "owner", server_default=None)


def downgrade() -> None:
    op.drop_column("proposal_decision", "signature")
    op.drop_column("proposal_decision", "key_fingerprint")
    op.drop_column("proposal_decision", "os_account")
    op.drop_column("experiment", "owner")
