"""Proposing into the authority: what promotion (step 5) and break-glass captures share.

Both read the target unit, diff the proposed data against its head, classify the
risk, and store a proposal whose change set holds the data. The embedded authority
takes the change set inside the caller's transaction. A remote one (ConfigHub) is
read before the transaction, so no network wait holds the write lock, and receives
the change set through the outbox (app/outbox.py) after the commit. When it cannot
be read at all the proposal is stored anyway, queued, with a provisional patch and
risk that delivery recomputes against the real head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from cublab.app.context import AppContext
from cublab.app.governance import not_governed_space
from cublab.authority.base import ChangeRequest, RemoteAuthority, SpaceInfo, UnitHead
from cublab.authority.errors import AuthorityAuthFailed, AuthorityUnavailable
from cublab.domain.identity import Identity
from cublab.domain.proposals import requirement_record
from cublab.domain.risk import PromotionPolicy, RiskAssessment, classify, required_decision
from cublab.domain.states import ExportStatus, ProposalState
from cublab.store.tables import AuthorityExport, Proposal


@dataclass(frozen=True)
class Target:
    """What the authority said about a target unit, or why it could not be asked."""

    space: SpaceInfo | None
    head: UnitHead | None
    unreadable: str | None = None  # set: the change is queued and its patch and risk are provisional
    held: bool = False  # an auth failure: the export waits for an operator, not for the next flush

    @property
    def base(self) -> dict[str, Any]:
        return self.head.data if self.head else {}


def read_target(remote: RemoteAuthority, space: str, unit: str) -> Target:
    """Read a remote target outside any transaction.

    A missing space is the caller's to fix and raises at once; an unreachable
    authority does not stop the change, which is queued (held, on an auth failure,
    until an operator fixes the cause).
    """
    try:
        remote.preflight(space)
        found = remote.get_space(space)
        if found is None:
            raise not_governed_space("target_space", remote.name, space, unit)
        return Target(found, remote.get_head(space, unit))
    except AuthorityUnavailable as exc:
        return Target(None, None, str(exc))
    except AuthorityAuthFailed as exc:
        return Target(None, None, str(exc), held=True)


def assess(
    rules: PromotionPolicy, patch: list[dict[str, Any]], *, space: SpaceInfo | None, new_unit: bool
) -> tuple[RiskAssessment, dict[str, Any]]:
    """Risk and the decision it requires, from the patch and the target space's tier.

    `space` is None when the authority could not be asked: then the tier is unknown and
    production is assumed (an upper bound, recomputed at delivery), and so are signed decisions.
    """
    production = space is None or rules.is_production(space.labels)
    risk = classify(patch, production=production, new_unit=new_unit, policy=rules)
    decision = required_decision(risk.level, production=production, policy=rules)
    signed = space is None or rules.requires_signed_decisions(space.labels)
    return risk, requirement_record(decision, high_approvals=rules.high_approvals, signed=signed)


@dataclass(frozen=True)
class Draft:
    """A proposal before it is stored: what differs between a promoted variant and a captured live state."""

    id: str
    kind: str  # variant | capture
    space: str
    unit: str
    new_unit: bool
    data: dict[str, Any]
    patch: list[dict[str, Any]]
    risk: RiskAssessment
    requirement: dict[str, Any]
    rationale: str
    evidence: dict[str, Any]
    confidence: float
    change_set_slug: str
    description: str
    labels: dict[str, str]
    annotations: dict[str, str]
    experiment_id: str | None = None
    variant_id: str | None = None
    incident_id: str | None = None
    justification: str | None = None
    proposer_model: str | None = None
    tags: tuple[str, ...] = ()


class Proposing:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def read(self, space: str, unit: str) -> Target | None:
        """A remote target, read before the write transaction; None: the embedded one is read inside it."""
        return read_target(self.ctx.remote, space, unit) if self.ctx.remote is not None else None

    def resolve(self, session: Session, seen: Target | None, space: str, unit: str, field: str) -> Target:
        """What `read` saw of a remote target, or the embedded target read now, in the caller's transaction."""
        if seen is not None:
            return seen
        authority = self.ctx.authority(session)
        found = authority.get_space(space)
        if found is None:
            raise not_governed_space(field, authority.name, space, unit)
        return Target(found, authority.get_head(space, unit))

    def assess(
        self, patch: list[dict[str, Any]], target: Target, *, new_unit: bool
    ) -> tuple[RiskAssessment, dict[str, Any]]:
        space = None if target.unreadable is not None else target.space
        return assess(self.ctx.policy.policy.promotion, patch, space=space, new_unit=new_unit)

    def store(self, session: Session, actor: Identity, target: Target, draft: Draft, provisional: str) -> Proposal:
        """Store the proposal and hand its change set to the authority (now) or the outbox (after the commit).

        `provisional` tells the agent what a queued proposal's patch and risk are worth
        when the target could not be read.
        """
        authority = self.ctx.authority(session)
        now = self.ctx.clock()
        head = target.head
        proposal = Proposal(
            id=draft.id,
            kind=draft.kind,
            experiment_id=draft.experiment_id,
            variant_id=draft.variant_id,
            incident_id=draft.incident_id,
            target_space=draft.space,
            target_unit=draft.unit,
            new_unit=draft.new_unit,
            base_revision_num=head.head_revision_num if head else None,
            base_version=head.version if head else None,
            patch=draft.patch,
            rationale=draft.rationale,
            justification=draft.justification,
            evidence=draft.evidence,
            proposer=str(actor),
            proposer_model=draft.proposer_model,
            confidence=draft.confidence,
            risk_class=draft.risk.level,
            risk_rationale=list(draft.risk.rationale),
            requirement=draft.requirement,
            state=ProposalState.PENDING,
            state_reason=None,
            authority=authority.name,
            change_set_id=None,
            revision_id=None,
            policy_digest=self.ctx.policy.digest,
            created_at=now,
            expires_at=now + self.ctx.policy.policy.promotion.proposal_expiry,
            decided_at=None,
        )
        change = ChangeRequest(
            space=draft.space,
            unit=draft.unit,
            new_unit=draft.new_unit,
            toolchain_type=head.toolchain_type if head else "AppConfig/JSON",
            data=draft.data,
            base_revision_num=proposal.base_revision_num,
            base_version=proposal.base_version,
            change_set_slug=draft.change_set_slug,
            description=draft.description,
            labels=draft.labels,
            annotations=draft.annotations,
            user_id=str(actor),
            tags=draft.tags,
        )
        remote = self.ctx.remote
        if remote is None:
            landed = authority.propose(change)
            proposal.change_set_id, proposal.revision_id = landed.change_set_id, landed.revision_id
            session.add(proposal)
        elif target.unreadable is None:
            self._enqueue(session, remote, proposal, change, ExportStatus.QUEUED, None, base=target.base)
        else:
            status = ExportStatus.HELD if target.held else ExportStatus.QUEUED
            self._enqueue(session, remote, proposal, change, status, f"{status}: {target.unreadable}. {provisional}")
        session.flush()
        return proposal

    def _enqueue(
        self,
        session: Session,
        remote: RemoteAuthority,
        proposal: Proposal,
        change: ChangeRequest,
        status: ExportStatus,
        reason: str | None,
        base: dict[str, Any] | None = None,
    ) -> None:
        """The proposal, queued, and its export request: committed together, delivered after the commit."""
        now = self.ctx.clock()
        proposal.state = ProposalState.QUEUED
        proposal.state_reason = reason or f"stored in cublab; being exported to {remote.name}"
        session.add(proposal)
        session.flush()  # the export row's foreign key needs the proposal first
        request: dict[str, Any] = {
            "data": change.data,
            "toolchain_type": change.toolchain_type,
            "description": change.description,
            "labels": change.labels,
            "annotations": change.annotations,
            "tags": list(change.tags),
            "user_id": change.user_id,
        }
        if base is not None:
            request["base_data"] = base  # diffs need the base; the authority holds it, cublab keeps a copy
        session.add(
            AuthorityExport(
                proposal_id=proposal.id,
                authority=remote.name,
                mode=remote.mode,
                status=status,
                request=request,
                attempts=0,
                last_error=reason if status != ExportStatus.QUEUED else None,
                change_set_slug=change.change_set_slug,
                observed={},
                created_at=now,
                updated_at=now,
            )
        )
