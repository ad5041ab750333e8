"""Proposals that live in ConfigHub follow what humans do there.

Approving and applying happen in ConfigHub (`cub unit approve/apply`), never in
cublab, so `cublab proposals sync` reads the target unit, its revisions and the
proposal's change set and moves each exported proposal to the state ConfigHub
implies. The reading is `judge()`, a pure function:

- a target revision in the proposal's change set is the proposal made current
  configuration's candidate (in shadow mode a human merged the shadow unit into
  the target with `--change-set`; in in-place mode cublab wrote it);
- a later revision whose description names the proposal is its rejection
  (ConfigHub has no reject: a reviewer restores the previous revision with a
  description naming the proposal);
- LiveRevisionNum >= that revision means applied; someone other than the
  proposer in ApprovedBy means approved;
- with no revision in the change set, a head that moved away from the base
  means stale: the proposal must be made again on the new base.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlmodel import col, select

from cublab.app.common import existing
from cublab.app.context import AppContext
from cublab.authority.base import Observation
from cublab.authority.errors import AuthorityAuthFailed, AuthorityUnavailable
from cublab.domain.errors import NotFound
from cublab.domain.identity import SYSTEM, Identity
from cublab.domain.proposals import OPEN_STATES
from cublab.domain.states import ProposalState
from cublab.store.tables import AuthorityExport, Proposal


@dataclass(frozen=True)
class SyncResult:
    proposal_id: str
    before: str
    after: str
    reason: str


def judge(
    obs: Observation, *, proposal_id: str, base_revision_num: int | None, new_unit: bool, proposer: str
) -> tuple[ProposalState | None, str]:
    """The state ConfigHub implies for one proposal, and why; (None, why) when nothing changed."""
    if obs.proposed_revision_num is None:
        if not obs.target_exists and not new_unit:
            return ProposalState.STALE, "the target unit no longer exists in ConfigHub"
        if new_unit and obs.target_exists:
            return (
                ProposalState.STALE,
                f"the unit was created in ConfigHub without this proposal (head revision {obs.head_revision_num})",
            )
        if not new_unit and obs.head_revision_num != base_revision_num:
            return ProposalState.STALE, (
                f"the target moved from base revision {base_revision_num} to {obs.head_revision_num} without this "
                "proposal; propose again on the new base"
            )
        return None, "waiting for a reviewer to merge it into the target"
    num = obs.proposed_revision_num
    for later, user, description in obs.later:
        if proposal_id in description:
            return (
                ProposalState.REJECTED,
                f"restored in ConfigHub revision {later} by {user or 'a reviewer'}: {description}",
            )
    if obs.live_revision_num >= num:
        return (
            ProposalState.APPLIED,
            f"applied in ConfigHub: live revision {obs.live_revision_num} includes proposed revision {num}",
        )
    if obs.later:
        return (
            ProposalState.STALE,
            f"revision {obs.later[-1][0]} replaced the proposed revision {num} before it was applied",
        )
    approvers = [a for a in obs.approved_by if a and a != proposer]
    if approvers:
        return (
            ProposalState.APPROVED,
            f"approved in ConfigHub by {', '.join(approvers)} (revision {num}); waiting for `cub unit apply`",
        )
    return None, f"revision {num} waits for approval in ConfigHub"


class ProposalSync:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def sync(self, actor: Identity = SYSTEM) -> list[SyncResult]:
        remote = self.ctx.remote
        if remote is None:
            raise NotFound(
                "authority: proposals sync reads ConfigHub; run it with --authority confighub (or CUBLAB_AUTHORITY=confighub)"
            )
        with self.ctx.db.read() as session:
            rows = session.exec(
                select(Proposal, AuthorityExport)
                .join(AuthorityExport, col(AuthorityExport.proposal_id) == col(Proposal.id))
                .where(
                    Proposal.authority == remote.name,
                    col(Proposal.state).in_(OPEN_STATES),
                    AuthorityExport.status == "delivered",
                )
                .order_by(col(Proposal.id))
            ).all()
        results = []
        for proposal, export in rows:
            assert export.change_set_id is not None  # a delivered export names its change set
            try:
                obs = remote.observe(proposal.target_space, proposal.target_unit, export.change_set_id)
            except (AuthorityUnavailable, AuthorityAuthFailed) as exc:
                results.append(SyncResult(proposal.id, proposal.state, proposal.state, f"not read: {exc}"))
                break  # the next ones would fail the same way; the next sync reads them
            state, why = judge(
                obs,
                proposal_id=proposal.id,
                base_revision_num=proposal.base_revision_num,
                new_unit=proposal.new_unit,
                proposer=proposal.proposer,
            )
            results.append(self._record(proposal.id, obs, state, why, actor))
        return results

    def _record(
        self, proposal_id: str, obs: Observation, state: ProposalState | None, why: str, actor: Identity
    ) -> SyncResult:
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            proposal = existing(session, Proposal, proposal_id)
            export = existing(session, AuthorityExport, proposal_id)
            before = proposal.state
            export.observed, export.synced_at = (
                {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(obs).items()},
                now,
            )
            session.add(export)
            after = before
            if (
                state is not None
                and before in OPEN_STATES
                and state != before
                and not (before == "approved" and state == "pending")
            ):
                after = state
                proposal.state, proposal.state_reason = state, why
                if state != "approved":
                    proposal.decided_at = now
                session.add(proposal)
            session.flush()
            if after != before:
                self.ctx.record(
                    session,
                    actor,
                    f"proposal.{after}",
                    "proposal",
                    proposal_id,
                    details={
                        "source": "confighub sync",
                        "reason": why,
                        "head": obs.head_revision_num,
                        "live": obs.live_revision_num,
                        "proposed_revision": obs.proposed_revision_num,
                        "approved_by": list(obs.approved_by),
                    },
                )
        return SyncResult(proposal_id, before, after, why)
