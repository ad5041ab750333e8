"""Human decisions on proposals, and humans seeding the embedded authority.

Every method here requires a `human:` identity and refuses anything else, so
no adapter can route an agent to a decision. The MCP server has no tool that
reaches this module; the CLI is its only caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from cublab.app.common import find
from cublab.app.context import AppContext
from cublab.app.expiry import proposal_lapsed, proposal_state
from cublab.app.guards import refuse_secrets, refuse_secrets_in_text
from cublab.app.outputs import ProposalView
from cublab.app.views import proposal_view
from cublab.authority.embedded import EmbeddedAuthority
from cublab.domain.canonical import content_hash
from cublab.domain.errors import Conflict, Forbidden, InvalidInput
from cublab.domain.identity import Identity
from cublab.domain.proposals import OPEN_STATES, DecisionRecord, requirement_status
from cublab.domain.states import ProposalState
from cublab.store.tables import Proposal, ProposalDecision, Revision, Unit


@dataclass(frozen=True)
class ApplyOutcome:
    applied: bool
    proposal: ProposalView
    message: str
    staled: list[str]


def _require_human(who: Identity) -> None:
    if not who.is_human:
        raise Forbidden(f"as: decisions are made by humans; {who} is not a human identity (human:<name>)")


class Review:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _authority(self, session: Session) -> EmbeddedAuthority:
        return EmbeddedAuthority(session, self.ctx.clock)

    def _open(
        self, session: Session, proposal_id: str, who: Identity, doing: str, *, expired_capture_ok: bool = False
    ) -> Proposal:
        """Load a proposal that a human may still decide on; persist expiry when it has passed."""
        _require_human(who)
        proposal = find(session, Proposal, "proposal", proposal_id, "proposal_id")
        if who.value == proposal.proposer:
            raise Forbidden(f"as: {who} proposed {proposal_id}; the proposer never decides on its own proposal")
        if proposal.authority != "embedded":  # ConfigHub decides there; `cublab proposals sync` brings it back
            raise Conflict(
                f"proposal_id: {proposal_id} lives in the {proposal.authority} authority; it cannot be {doing} here: "
                "decide in ConfigHub (`cublab proposals show` prints the cub commands), then run `cublab proposals sync`"
            )
        state = proposal_state(proposal.state, proposal.expires_at, self.ctx.clock())
        if expired_capture_ok and proposal.kind == "capture" and state == "expired":
            return proposal  # a break-glass capture still owes its review: a human may revert it after expiry
        if state not in OPEN_STATES:
            raise Conflict(
                f"proposal_id: {proposal_id} is {state}{' (' + proposal.state_reason + ')' if proposal.state_reason else ''}; it cannot be {doing}"
            )
        return proposal

    def _decisions(self, session: Session, proposal: Proposal) -> list[DecisionRecord]:
        rows = session.exec(select(ProposalDecision).where(ProposalDecision.proposal_id == proposal.id)).all()
        return [DecisionRecord(d.actor, d.decision, d.created_at) for d in rows]

    def _record(
        self, session: Session, proposal: Proposal, who: Identity, decision: str, reason: str, role: str
    ) -> None:
        session.add(
            ProposalDecision(
                proposal_id=proposal.id,
                actor=str(who),
                role=role,
                decision=decision,
                reason=reason,
                created_at=self.ctx.clock(),
            )
        )
        session.flush()
        self.ctx.record(
            session,
            who,
            f"proposal.{decision}",
            "proposal",
            proposal.id,
            explanation=reason,
            related={"experiment_id": proposal.experiment_id},
            details={"role": role, "risk": proposal.risk_class},
        )

    def _settle(self, session: Session, proposal: Proposal) -> None:
        status = requirement_status(
            proposal.requirement,
            self._decisions(session, proposal),
            proposer=proposal.proposer,
            created_at=proposal.created_at,
            now=self.ctx.clock(),
        )
        if status.met and proposal.state == "pending" and proposal.requirement["kind"] != "objection_window":
            proposal.state, proposal.decided_at = ProposalState.APPROVED, self.ctx.clock()
            session.add(proposal)
            session.flush()

    def approve(self, proposal_id: str, who: Identity, reason: str, role: str = "reviewer") -> ProposalView:
        refuse_secrets_in_text(reason=reason)
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "approved")
            if any(d.actor == who.value and d.decision == "approve" for d in self._decisions(session, proposal)):
                raise Conflict(
                    f"as: {who} already approved {proposal_id}; another approval must come from a different person"
                )
            self._record(session, proposal, who, "approve", reason, role)
            if proposal.revision_id:
                self._authority(session).approve_revision(proposal.revision_id, who.value)
            self._settle(session, proposal)
            return proposal_view(session, proposal, self.ctx.clock())

    def acknowledge(self, proposal_id: str, who: Identity, reason: str, role: str = "reviewer") -> ProposalView:
        refuse_secrets_in_text(reason=reason)
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "acknowledged")
            if proposal.requirement["kind"] == "approval":
                raise Conflict(
                    f"proposal_id: {proposal_id} is {proposal.risk_class} risk and needs explicit approval "
                    "(`cublab proposals approve`); an acknowledgment is not enough"
                )
            self._record(session, proposal, who, "acknowledge", reason, role)
            self._settle(session, proposal)
            return proposal_view(session, proposal, self.ctx.clock())

    def reject(self, proposal_id: str, who: Identity, reason: str, role: str = "reviewer") -> ProposalView:
        if not reason.strip():
            raise InvalidInput("reason: a rejection needs a reason the agent can learn from")
        refuse_secrets_in_text(reason=reason)
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "rejected", expired_capture_ok=True)
            self._record(session, proposal, who, "reject", reason, role)
            proposal.state, proposal.state_reason, proposal.decided_at = (
                ProposalState.REJECTED,
                f"rejected by {who}: {reason}",
                self.ctx.clock(),
            )
            session.add(proposal)
            if proposal.revision_id:
                self._authority(session).discard_pending(proposal.revision_id)
            session.flush()
            return proposal_view(session, proposal, self.ctx.clock())

    def apply(self, proposal_id: str, who: Identity, reason: str = "") -> ApplyOutcome:
        """Make the proposal current configuration, if its required decision is met and its base is still the head."""
        refuse_secrets_in_text(reason=reason)
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "applied")
            if proposal.authority != "embedded":
                raise Conflict(
                    f"proposal_id: {proposal_id} lives in the {proposal.authority} authority; apply it there"
                )
            status = requirement_status(
                proposal.requirement,
                self._decisions(session, proposal),
                proposer=proposal.proposer,
                created_at=proposal.created_at,
                now=now,
            )
            if not status.met:
                raise Conflict(
                    f"proposal_id: {proposal_id} ({proposal.risk_class} risk) cannot be applied yet; still required: {status.still_required}"
                )
            authority = self._authority(session)
            head = authority.get_head(proposal.target_space, proposal.target_unit)
            moved = (
                (head is not None)
                if proposal.new_unit
                else (head is None or head.head_revision_num != proposal.base_revision_num)
            )
            if moved:
                now_at = (
                    "exists now"
                    if proposal.new_unit
                    else f"is at revision {head.head_revision_num if head else 'gone'}"
                )
                reason_text = (
                    f"the target {proposal.target_space}/{proposal.target_unit} {now_at}, "
                    f"not the base revision {proposal.base_revision_num}; rebase means a new proposal"
                )
                self._make_stale(session, proposal, who, reason_text)
                return ApplyOutcome(
                    False,
                    proposal_view(session, proposal, now),
                    f"{proposal_id} is stale: {reason_text}",
                    [proposal_id],
                )
            assert proposal.revision_id is not None  # the embedded authority holds every proposal as a pending revision
            revision = authority.apply_pending(
                proposal.revision_id,
                by=str(who),
                description=f"apply cublab proposal {proposal.id} ({proposal.risk_class}) approved: {', '.join(status.approvals or status.acknowledgments) or 'objection window passed'}",
            )
            self._record(session, proposal, who, "apply", reason or "applied", "operator")
            proposal.state, proposal.decided_at = ProposalState.APPLIED, now
            proposal.state_reason = f"applied as revision {revision.revision_num} by {who}"
            session.add(proposal)
            session.flush()
            staled = []
            rivals = session.exec(
                select(Proposal).where(
                    Proposal.target_space == proposal.target_space,
                    Proposal.target_unit == proposal.target_unit,
                    col(Proposal.state).in_(OPEN_STATES),
                    Proposal.id != proposal.id,
                )
            ).all()
            for rival in rivals:
                self._make_stale(
                    session,
                    rival,
                    who,
                    f"competing proposal {proposal.id} was applied first (revision {revision.revision_num})",
                )
                staled.append(rival.id)
            return ApplyOutcome(
                True,
                proposal_view(session, proposal, now),
                f"applied {proposal_id}: {proposal.target_space}/{proposal.target_unit} is now at revision {revision.revision_num}",
                staled,
            )

    def _make_stale(self, session: Session, proposal: Proposal, who: Identity, reason: str) -> None:
        proposal.state, proposal.state_reason = ProposalState.STALE, reason
        session.add(proposal)
        if proposal.revision_id:
            self._authority(session).discard_pending(proposal.revision_id)
        session.flush()
        self.ctx.record(session, who, "proposal.stale", "proposal", proposal.id, details={"reason": reason})

    def expire_due(self, who: Identity) -> list[str]:
        """Persist the expiry of open proposals past their time (7 days by default)."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            due = session.exec(select(Proposal).where(proposal_lapsed(now))).all()
            for proposal in due:
                proposal.state, proposal.state_reason = (
                    ProposalState.EXPIRED,
                    f"no decision within {self.ctx.policy.policy.promotion.proposal_expiry}",
                )
                session.add(proposal)
                if proposal.revision_id:
                    self._authority(session).discard_pending(proposal.revision_id)
                session.flush()
                self.ctx.record(
                    session,
                    who,
                    "proposal.expire",
                    "proposal",
                    proposal.id,
                    details={"expires_at": proposal.expires_at.isoformat()},
                )
        return [p.id for p in due]

    # ---- the embedded authority, seeded and read by humans ------------------------------

    def import_unit(
        self,
        space: str,
        unit: str,
        data: dict[str, Any],
        who: Identity,
        *,
        tier: str | None = None,
        toolchain_type: str = "AppConfig/JSON",
        description: str = "",
    ) -> dict[str, Any]:
        _require_human(who)
        refuse_secrets("file", data)
        refuse_secrets_in_text(
            space=space, unit=unit, tier=tier, toolchain_type=toolchain_type, description=description
        )  # each is stored
        with self.ctx.db.write() as session:
            authority = self._authority(session)
            authority.ensure_space(space, {self.ctx.policy.policy.promotion.tier_label: tier} if tier else {}, str(who))
            head = authority.get_head(space, unit)
            if head is not None and head.data == data:
                return {
                    "space": space,
                    "unit": unit,
                    "revision": head.head_revision_num,
                    "data_hash": content_hash(data),
                    "unchanged": True,
                }
            revision = authority.commit_revision(
                space,
                unit,
                data,
                by=str(who),
                description=description or f"imported by {who}",
                source="import",
                toolchain_type=toolchain_type,
            )
            self.ctx.record(
                session,
                who,
                "authority.import",
                "unit",
                f"{space}/{unit}",
                details={"revision": revision.revision_num, "data_hash": revision.data_hash, "tier": tier},
            )
            return {
                "space": space,
                "unit": unit,
                "revision": revision.revision_num,
                "data_hash": revision.data_hash,
                "unchanged": False,
            }

    def unit_with_revisions(self, space: str, unit: str) -> tuple[Unit, list[Revision]]:
        with self.ctx.db.read() as session:
            authority = self._authority(session)
            return authority.unit(space, unit), authority.revisions(space, unit)

    def revision_data(self, space: str, unit: str, num: int) -> dict[str, Any]:
        with self.ctx.db.read() as session:
            return json.loads(self._authority(session).revision(space, unit, num).data)
