"""Result models: what every adapter returns, and the tools' output schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from cublab.domain.bypass import BypassDecision
from cublab.domain.states import ObligationStatus, ProposalState, SandboxStatus


def _as_literal(states: type[StrEnum]) -> WithJsonSchema:
    """A state enum published as the plain string enum clients already read, inline, not as a $defs entry.

    Pydantic leaves the title off such a field (it expects a reference), so fields of
    these types name their title explicitly: the published schemas stay as they were.
    """
    return WithJsonSchema({"enum": [state.value for state in states], "type": "string"})


PublishedSandboxStatus = Annotated[SandboxStatus, _as_literal(SandboxStatus)]
PublishedProposalState = Annotated[ProposalState, _as_literal(ProposalState)]
PublishedObligationStatus = Annotated[ObligationStatus, _as_literal(ObligationStatus)]


class Criterion(BaseModel):
    number: int
    name: str


class SandboxView(BaseModel):
    id: str
    name: str
    purpose: str
    owner: str = Field(
        description="The agent principal (its identity without the session) that may renew or destroy it and add "
        "experiments; others may read it."
    )
    status: PublishedSandboxStatus = Field(title="Status")
    ttl: str
    labels: dict[str, str]
    bypass_criterion: Criterion
    created_by: str
    created_at: datetime
    expires_at: datetime
    destroyed_at: datetime | None


class SandboxPage(BaseModel):
    sandboxes: list[SandboxView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ExperimentView(BaseModel):
    id: str
    sandbox_id: str
    owner: str = Field(
        description="The agent principal that may write to it (log variants and results, promote); others may read it."
    )
    name: str
    hypothesis: str
    objective_metric: str
    direction: Literal["minimize", "maximize"]
    target_space: str | None
    target_unit: str | None
    created_by: str
    created_at: datetime


class ExperimentPage(BaseModel):
    experiments: list[ExperimentView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class VariantView(BaseModel):
    id: str
    experiment_id: str
    name: str
    description: str
    config: dict[str, Any]
    content_hash: str
    created_by: str
    created_at: datetime


class VariantLogged(BaseModel):
    variant: VariantView
    duplicate: bool = Field(
        description="True when this exact configuration was already logged; nothing new was stored."
    )
    message: str


class MetricCount(BaseModel):
    variant_id: str
    metric: str
    n: int


class ExperimentLog(BaseModel):
    experiment: ExperimentView
    sandbox_status: PublishedSandboxStatus = Field(title="Sandbox Status")
    variants: list[VariantView]
    measurements: list[MetricCount]


class ResultsLogged(BaseModel):
    experiment_id: str
    batch_id: int
    points: int
    by_variant: dict[str, int]
    digest: str = Field(description="sha256 of the batch as stored; also in the audit log.")


class VariantStats(BaseModel):
    rank: int | None = Field(description="1 is best by the objective's direction; null without data.")
    variant_id: str
    name: str
    n: int
    mean: float | None
    stddev: float | None
    min: float | None
    max: float | None
    ci_low: float | None
    ci_high: float | None


class ExcludedBatch(BaseModel):
    """A result batch a human excluded from comparisons (`cublab results exclude`); its rows are kept."""

    batch_id: int
    experiment_id: str
    points: int
    excluded_by: str
    excluded_at: datetime
    reason: str


class Comparison(BaseModel):
    experiment_id: str
    metric: str
    direction: Literal["minimize", "maximize"]
    is_objective: bool
    verdict: Literal["winner", "no_significant_difference", "not_enough_data"]
    winner: str | None = Field(description="The winning variant's id, only when the difference is significant.")
    leader: str | None = Field(description="The best variant by mean, significant or not.")
    runner_up: str | None
    p_value: float | None = Field(description="Welch's two-sided t-test, leader against runner-up.")
    confidence: float | None = Field(description="1 - p_value: how sure the leader is better than the runner-up.")
    confidence_level: float
    min_samples: int
    summary: str
    variants: list[VariantStats]
    excluded_batches: list[ExcludedBatch] = Field(
        default_factory=list,
        description="Result batches a human excluded from comparisons, with who and why; their points are not counted.",
    )


class AuditKeyInfo(BaseModel):
    """Where the audit key and the witness are; never the key itself."""

    key_source: str = Field(description="The key file, or $CUBLAB_AUDIT_KEY.")
    witness: str = Field(description="The witness file of signed checkpoints for this database.")
    public_key: str = Field(description="The witness's Ed25519 public key (ed25519:<base64>): record it elsewhere.")
    database: str = Field(description="The database the witness belongs to (never a password).")


class AuditCheck(BaseModel):
    ok: bool
    events: int
    problems: list[str]
    database: str = Field(description="Where the checked chain lives (never a password).")
    authenticated: int = Field(description="Events whose MAC the audit key confirms.")
    checkpoints: int = Field(description="Valid signed checkpoints in the witness.")
    witnessed: int | None = Field(description="The newest event a valid checkpoint names.")
    first_broken: int | None = Field(
        default=None,
        description="The earliest event any problem names (edited, missing, unauthenticated, rewritten...); "
        "null when the log verifies or only the witness file itself is wrong.",
    )
    key: AuditKeyInfo


class AuditSeal(BaseModel):
    sealed: int = Field(description="Events from before the audit key that now carry a MAC.")
    through: int | None = Field(description="The newest sealed event.")
    key: AuditKeyInfo


class PolicyDocument(BaseModel):
    source: str
    digest: str
    policy: dict[str, Any]


class ProposalTarget(BaseModel):
    space: str
    unit: str
    new_unit: bool
    base_revision_num: int | None = Field(
        description="The head revision the patch was computed against; apply is blocked if the head moved."
    )


class Proposer(BaseModel):
    identity: str
    model: str | None
    confidence: float


class Risk(BaseModel):
    level: Literal["LOW", "MEDIUM", "HIGH"]
    rationale: list[str]


class Requirement(BaseModel):
    kind: Literal["objection_window", "acknowledgment", "approval"]
    approvals_needed: int
    window_seconds: float | None
    as_high_after_seconds: float | None = Field(
        default=None, description="MEDIUM: unacknowledged this long, it needs HIGH approval."
    )
    high_approvals: int | None = None
    signed: bool = Field(
        default=False,
        description="Every human decision must be signed with the reviewer's registered SSH key (the policy marks this tier).",
    )
    description: str


class DecisionView(BaseModel):
    actor: str
    role: str
    decision: str
    reason: str
    at: datetime
    key_fingerprint: str | None = Field(
        default=None, description="The SSH key that signed this decision (SHA256:...), where one did."
    )


class AuthorityRef(BaseModel):
    name: str
    change_set_slug: str
    change_set_id: str | None
    revision_id: str | None


class ProposalView(BaseModel):
    id: str
    state: PublishedProposalState = Field(
        title="State",
        description="queued: stored in cublab, not yet exported to the authority (unreachable); the outbox delivers it later.",
    )
    state_reason: str | None
    experiment_id: str | None = Field(
        description="The experiment whose winner this is; none for a break-glass capture."
    )
    variant_id: str | None = Field(description="The promoted variant; none for a break-glass capture.")
    target: ProposalTarget
    patch: list[dict[str, Any]] = Field(
        description="RFC 6902 JSON Patch from the base revision to the proposed configuration."
    )
    rationale: str
    justification: str | None
    evidence: dict[str, Any] = Field(
        description="The comparison that made this variant the winner, as computed at promotion."
    )
    proposer: Proposer
    risk: Risk
    requirement: Requirement
    decisions: list[DecisionView]
    requirement_met: bool
    still_required: str
    not_counted: list[str] = Field(
        default_factory=list,
        description="Decisions that do not count toward the requirement, and why (the proposer under another name, "
        "an OS account or SSH key already counted for someone else, a missing signature).",
    )
    authority: AuthorityRef
    policy_digest: str
    created_at: datetime
    expires_at: datetime
    promoted_again: bool = Field(
        default=False,
        description="True when this call found the open proposal made earlier for the same variant and target.",
    )


class ProposalPage(BaseModel):
    proposals: list[ProposalView]
    next_cursor: str | None


class ProposalDocument(BaseModel):
    proposal: ProposalView
    diff: str = Field(description="Unified diff (YAML) from the base revision to the proposed configuration.")


class BypassAnswer(BypassDecision):
    """The engine's decision, with the id it is logged under and the policy version it was made under."""

    decision_id: str
    policy_version: str = Field(description="sha256 of the policy file the decision was made under.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Overdue reconciliation obligations, reported on every answer until met; and a named space the "
        "authority does not govern yet, with the human command that brings it under governance.",
    )


class ObligationView(BaseModel):
    id: str
    incident_id: str
    kind: Literal["capture", "review"]
    unit: str | None
    status: PublishedObligationStatus = Field(title="Status")
    due_at: datetime
    met_at: datetime | None
    met_by: str | None
    evidence: dict[str, Any]
    description: str


class IncidentView(BaseModel):
    incident_id: str
    reason: str
    units: list[str]
    declared_by: str
    declared_at: datetime
    policy_version: str
    obligations: list[ObligationView]
    declared_again: bool = Field(
        default=False, description="True when this incident was already declared; nothing new was stored."
    )
    warnings: list[str] = Field(default_factory=list)


class CaptureResult(BaseModel):
    incident_id: str
    unit: str
    drift: bool = Field(description="False when the live state equals the authority's head: nothing to reconcile.")
    proposal: ProposalView | None = Field(
        description="The captured revision, pending human review: approve+apply persists it, reject reverts."
    )
    obligation: ObligationView
    message: str
    warnings: list[str] = Field(default_factory=list)


class ObligationList(BaseModel):
    obligations: list[ObligationView]
    open: int
    overdue: int
    met: int
    warnings: list[str] = Field(default_factory=list, description="One loud line per overdue obligation.")
