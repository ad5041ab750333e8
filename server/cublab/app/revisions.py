"""Who stands behind each revision of a unit in the embedded authority.

A revision's user is whoever committed it: for a promoted variant that is the proposing
agent, which tells a reviewer little. The humans who approved or acknowledged it and the
one who applied it are in the proposal's decision records (`proposal_decision`), which
this reads beside the revision, so `cublab authority show` and the web console name them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlmodel import Session, col, select

from cublab.app.context import AppContext
from cublab.app.read_models import RevisionDecision, RevisionDetail, RevisionSummary, UnitHistory
from cublab.authority.embedded import EmbeddedAuthority
from cublab.store.tables import Proposal, ProposalDecision, Revision

_COUNTED = ("approve", "acknowledge")


class Revisions:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def history(self, space: str, unit: str) -> UnitHistory:
        """The unit's head and every committed revision, oldest first, each naming the humans behind it."""
        with self.ctx.db.read() as session:
            authority = EmbeddedAuthority(session, self.ctx.clock)
            row = authority.unit(space, unit)
            revisions = authority.revisions(space, unit)
            summaries = self._summaries(session, space, unit, revisions)
            return UnitHistory(
                space=space,
                unit=unit,
                head_revision_num=row.head_revision_num,
                live_revision_num=row.live_revision_num,
                version=row.version,
                toolchain_type=row.toolchain_type,
                data=json.loads(row.data),
                revisions=summaries,
            )

    def detail(self, space: str, unit: str, revision_num: int) -> RevisionDetail:
        """One revision, its configuration, and the humans who approved, acknowledged and applied it."""
        with self.ctx.db.read() as session:
            revision = EmbeddedAuthority(session, self.ctx.clock).revision(space, unit, revision_num)
            (summary,) = self._summaries(session, space, unit, [revision])
            return RevisionDetail(**summary.model_dump(), data=json.loads(revision.data))

    def _summaries(
        self, session: Session, space: str, unit: str, revisions: Sequence[Revision]
    ) -> list[RevisionSummary]:
        ids = [r.revision_id for r in revisions]
        proposals = {
            p.revision_id: p
            for p in session.exec(select(Proposal).where(col(Proposal.revision_id).in_(ids))).all()
            if p.revision_id
        }
        decisions: dict[str, list[ProposalDecision]] = {}
        if proposals:
            rows = session.exec(
                select(ProposalDecision)
                .where(col(ProposalDecision.proposal_id).in_([p.id for p in proposals.values()]))
                .order_by(col(ProposalDecision.id))
            ).all()
            for d in rows:
                decisions.setdefault(d.proposal_id, []).append(d)
        out = []
        for r in revisions:
            proposal = proposals.get(r.revision_id)
            made = decisions.get(proposal.id, []) if proposal else []
            applied = [d.actor for d in made if d.decision == "apply"]
            out.append(
                RevisionSummary(
                    space=space,
                    unit=unit,
                    revision_num=r.revision_num or 0,
                    source=r.source,
                    description=r.description,
                    created_at=r.created_at,
                    data_hash=r.data_hash,
                    tags=list(r.tags),
                    committed_by=r.user_id,
                    proposal_id=proposal.id if proposal else None,
                    experiment_id=proposal.experiment_id if proposal else None,
                    variant_id=proposal.variant_id if proposal else None,
                    approved_by=[d.actor for d in made if d.decision in _COUNTED],
                    applied_by=applied[-1] if applied else (r.user_id if r.source == "import" else None),
                    decisions=[
                        RevisionDecision(
                            actor=d.actor,
                            decision=d.decision,
                            reason=d.reason,
                            at=d.created_at,
                            key_fingerprint=d.key_fingerprint,
                        )
                        for d in made
                    ],
                )
            )
        return out
