"""Reading proposals: for agents (`proposal_get`, `proposal_list`, the proposal resource) and reviewers (`cublab proposals show`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col

from cublab.app.common import check_id, find, newest_first
from cublab.app.context import AppContext
from cublab.app.expiry import proposal_state_is
from cublab.app.inputs import ListProposals, ProposalRef
from cublab.app.outputs import ProposalDocument, ProposalPage, ProposalView
from cublab.app.views import proposal_view
from cublab.authority.embedded import EmbeddedAuthority
from cublab.domain.diff import unified_diff
from cublab.domain.patch import apply_patch
from cublab.store.tables import AuthorityExport, Proposal


@dataclass(frozen=True)
class RemoteReview:
    """A proposal a remote authority holds: how its export stands, and what a reviewer runs there."""

    status: str
    commands: list[str]


class Proposals:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def get(self, cmd: ProposalRef) -> ProposalView:
        with self.ctx.db.read() as session:
            proposal = find(session, Proposal, "proposal", cmd.proposal_id, "proposal_id")
            return proposal_view(session, proposal, self.ctx.clock())

    def document(self, proposal_id: str) -> ProposalDocument:
        """The proposal with a diff from its base to the proposed configuration."""
        with self.ctx.db.read() as session:
            proposal = find(session, Proposal, "proposal", proposal_id, "proposal_id")
            base, target = self._documents(session, proposal)
            view = proposal_view(session, proposal, self.ctx.clock())
        base_label = f"{view.target.space}/{view.target.unit}@{view.target.base_revision_num or 'new'}"
        return ProposalDocument(proposal=view, diff=unified_diff(base, target, base_label, f"proposal {view.id}"))

    def _documents(self, session: Session, p: Proposal) -> tuple[dict[str, Any], dict[str, Any]]:
        """The base revision's data and the proposed data."""
        if (
            p.authority != "embedded"
        ):  # the authority holds the documents; cublab keeps what it proposed and the base it read
            export = session.get(AuthorityExport, p.id)
            if export is not None:
                return dict(export.request.get("base_data") or {}), dict(export.request["data"])
        base: dict[str, Any] = {}
        if p.base_revision_num:
            revision = EmbeddedAuthority(session, self.ctx.clock).revision(
                p.target_space, p.target_unit, p.base_revision_num
            )
            base = json.loads(revision.data)
        return base, apply_patch(base, p.patch)

    def remote_review(self, proposal_id: str) -> RemoteReview | None:
        """None for a proposal of the embedded authority, which cublab's own CLI decides."""
        with self.ctx.db.read() as session:
            proposal = find(session, Proposal, "proposal", proposal_id, "proposal_id")
            export = session.get(AuthorityExport, proposal_id)
        if proposal.authority == "embedded":
            return None
        if export is None:
            status = "not exported"
        else:
            status = f"export {export.status}" + (f": {export.last_error}" if export.last_error else "")
        remote = self.ctx.remote
        if remote is None or remote.name != proposal.authority:
            commands = [
                f"# the commands come from the {proposal.authority} authority: run with CUBLAB_AUTHORITY={proposal.authority}"
            ]
        else:
            commands = remote.review_commands(
                proposal.id,
                proposal.target_space,
                proposal.target_unit,
                change_set_id=export.change_set_id if export else None,
                change_set_slug=export.change_set_slug if export else None,
                mode=export.mode if export else None,
                unit_space=export.unit_space if export else None,
                unit_slug=export.unit_slug if export else None,
            )
        return RemoteReview(status, commands)

    def list(self, cmd: ListProposals) -> ProposalPage:
        now = self.ctx.clock()
        with self.ctx.db.read() as session:
            where = [proposal_state_is(cmd.state, now)] if cmd.state else []
            if cmd.experiment_id:
                where.append(col(Proposal.experiment_id) == check_id("experiment", cmd.experiment_id, "experiment_id"))
            page, next_cursor = newest_first(session, Proposal, "proposal", cmd.cursor, cmd.limit, *where)
            return ProposalPage(proposals=[proposal_view(session, p, now) for p in page], next_cursor=next_cursor)
