"""Rows as the result models every adapter returns.

A view is read at a moment: expiry, overdue obligations and whether a proposal's
required decision is met are computed for `now`, so every use case and every
adapter shows the same state for the same row.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import Session, col, select

from cublab.app.expiry import obligation_status, proposal_state, sandbox_status
from cublab.app.outputs import (
    AuthorityRef,
    Criterion,
    DecisionView,
    ExperimentView,
    IncidentView,
    ObligationView,
    ProposalTarget,
    ProposalView,
    Proposer,
    Requirement,
    Risk,
    SandboxView,
    VariantView,
)
from cublab.domain.durations import format_duration
from cublab.domain.proposals import DECIDED_STATES, DecisionRecord, requirement_status
from cublab.domain.states import ObligationStatus, SandboxStatus
from cublab.store.tables import Experiment, Incident, Obligation, Proposal, ProposalDecision, Variant


class SandboxRow(Protocol):
    """A sandbox as the ORM loads it, or as `sandbox_get`'s driver fast path reads it."""

    id: str
    name: str
    purpose: str
    owner: str
    status: SandboxStatus
    ttl_seconds: int
    labels: dict[str, str]
    created_by: str
    created_at: datetime
    expires_at: datetime
    destroyed_at: datetime | None


def late_by(delta: timedelta) -> str:
    return format_duration(delta) or "0s"


def sandbox_view(sandbox: SandboxRow, now: datetime, criterion: Criterion) -> SandboxView:
    return SandboxView(
        id=sandbox.id,
        name=sandbox.name,
        purpose=sandbox.purpose,
        owner=sandbox.owner,
        status=sandbox_status(sandbox.status, sandbox.expires_at, now),
        ttl=format_duration(timedelta(seconds=sandbox.ttl_seconds)),
        labels=sandbox.labels,
        bypass_criterion=criterion,
        created_by=sandbox.created_by,
        created_at=sandbox.created_at,
        expires_at=sandbox.expires_at,
        destroyed_at=sandbox.destroyed_at,
    )


def experiment_view(experiment: Experiment) -> ExperimentView:
    return ExperimentView.model_validate(experiment, from_attributes=True)


def variant_view(variant: Variant) -> VariantView:
    return VariantView(
        id=variant.id,
        experiment_id=variant.experiment_id,
        name=variant.name,
        description=variant.description,
        config=json.loads(variant.config_json),
        content_hash=variant.content_hash,
        created_by=variant.created_by,
        created_at=variant.created_at,
    )


def proposal_view(session: Session, p: Proposal, now: datetime, promoted_again: bool = False) -> ProposalView:
    decisions = session.exec(
        select(ProposalDecision).where(ProposalDecision.proposal_id == p.id).order_by(col(ProposalDecision.id))
    ).all()
    status = requirement_status(
        p.requirement,
        [DecisionRecord(d.actor, d.decision, d.created_at) for d in decisions],
        proposer=p.proposer,
        created_at=p.created_at,
        now=now,
    )
    return ProposalView(
        id=p.id,
        state=proposal_state(p.state, p.expires_at, now),
        state_reason=p.state_reason,
        experiment_id=p.experiment_id,
        variant_id=p.variant_id,
        target=ProposalTarget(
            space=p.target_space, unit=p.target_unit, new_unit=p.new_unit, base_revision_num=p.base_revision_num
        ),
        patch=p.patch,
        rationale=p.rationale,
        justification=p.justification,
        evidence=p.evidence,
        proposer=Proposer(identity=p.proposer, model=p.proposer_model, confidence=p.confidence),
        risk=Risk(level=p.risk_class, rationale=p.risk_rationale),
        requirement=Requirement(**p.requirement),
        decisions=[
            DecisionView(actor=d.actor, role=d.role, decision=d.decision, reason=d.reason, at=d.created_at)
            for d in decisions
        ],
        requirement_met=status.met,
        still_required=status.still_required,
        authority=AuthorityRef(
            name=p.authority,
            change_set_slug=f"break-glass-{p.incident_id}" if p.kind == "capture" else f"proposal-{p.id}",
            change_set_id=p.change_set_id,
            revision_id=p.revision_id,
        ),
        policy_digest=p.policy_digest,
        created_at=p.created_at,
        expires_at=p.expires_at,
        promoted_again=promoted_again,
    )


def _review_met(session: Session, incident_id: str) -> tuple[bool, datetime | None, list[str]]:
    """A break-glass review is met when every unit is captured and every capture has a human decision."""
    captures = session.exec(
        select(Obligation).where(Obligation.incident_id == incident_id, Obligation.kind == "capture")
    ).all()
    if any(c.status != "met" for c in captures):
        return False, None, []
    proposals = session.exec(select(Proposal).where(Proposal.incident_id == incident_id)).all()
    if any(p.state not in DECIDED_STATES for p in proposals):
        return False, None, []  # an expired capture was never reviewed: a human still persists or reverts it
    moments = [p.decided_at for p in proposals if p.decided_at] + [c.met_at for c in captures if c.met_at]
    return True, max(moments, default=None), [f"{p.id}: {p.state}" for p in proposals]


def obligation_view(session: Session, ob: Obligation, now: datetime) -> ObligationView:
    status, met_at, evidence = ob.status, ob.met_at, dict(ob.evidence)
    if ob.kind == "review" and status == ObligationStatus.OPEN:
        met, met_at, decided = _review_met(session, ob.incident_id)
        if met:
            status, evidence = ObligationStatus.MET, {**evidence, "decisions": decided}
    status = obligation_status(status, ob.due_at, now)
    if ob.kind == "capture":
        what = f"capture the live state of {ob.unit} into the authority (tag break-glass)"
    else:
        what = "review the captured changes: persist (approve and apply) or revert (reject) each"
    if status == "overdue":
        what += f": OVERDUE by {late_by(now - ob.due_at)}"
    return ObligationView(
        id=ob.id,
        incident_id=ob.incident_id,
        kind=ob.kind,
        unit=ob.unit,
        status=status,
        due_at=ob.due_at,
        met_at=met_at,
        met_by=ob.met_by,
        evidence=evidence,
        description=what,
    )


def incident_view(
    session: Session, incident: Incident, now: datetime, warnings: list[str], declared_again: bool = False
) -> IncidentView:
    obligations = session.exec(
        select(Obligation).where(Obligation.incident_id == incident.id).order_by(col(Obligation.id))
    ).all()
    return IncidentView(
        incident_id=incident.id,
        reason=incident.reason,
        units=incident.units,
        declared_by=incident.declared_by,
        declared_at=incident.declared_at,
        policy_version=incident.policy_digest,
        obligations=[obligation_view(session, ob, now) for ob in obligations],
        declared_again=declared_again,
        warnings=warnings,
    )
