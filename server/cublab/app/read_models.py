"""Result models of the reviewer's read views: the web console and the CLI show the same rows.

None of these is a tool's output (the MCP tools publish `outputs.py`); they are what a
human reads: an experiment in full, experiment and audit listings with filters, the
bounded sample a chart draws, an export, and who decided an authority revision. Every
text field holds data as stored: adapters escape it (`cublab.console` for terminals,
the templates' autoescaping for pages).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from cublab.app.inputs import STORED, Input
from cublab.app.outputs import Comparison, ExperimentView, VariantView

ExperimentState = Literal["running", "proposed", "applied", "closed"]
"""Where an experiment stands, derived on read (nothing stores it):

- applied: a proposal made from it was applied;
- proposed: otherwise, a proposal made from it is open (queued, pending or approved, not past its expiry);
- running: otherwise, its sandbox is live (active, not past its expiry): agents may still log to it;
- closed: none of these (its sandbox expired or was destroyed; any proposal was rejected, went stale or expired).
"""

EXPERIMENT_STATES: tuple[ExperimentState, ...] = ("running", "proposed", "applied", "closed")
MAX_PAGE = 200
"""The most rows any listing returns at once."""
MAX_SAMPLE = 2000
"""The most measurements per variant a chart sample holds."""

# ---- what a reader asks for ----------------------------------------------------------------------

# A filter is never stored, but it is shown back (the page's form, the CLI's refusal) and could only match text that
# the stored-text check lets in: it gets the same check, so the page and the CLI name the field and the character.
Filter = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), STORED]


class ExperimentFilter(Input):
    """Which experiments to list (every filter optional, all must hold), and which page."""

    sandbox_id: Filter | None = None
    agent: Filter | None = Field(
        default=None,
        description="The owner (an agent principal, e.g. agent:claude-desktop) or the exact identity that created it.",
    )
    space: Filter | None = Field(default=None, description="Target space slug.")
    unit: Filter | None = Field(default=None, description="Target unit slug.")
    state: ExperimentState | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class AuditQuery(Input):
    """Which audit events to list (every filter optional, all must hold), newest first, and which page."""

    actor: Filter | None = Field(default=None, description="Exactly this identity (folded as identities are).")
    object_type: Filter | None = Field(default=None, description="e.g. proposal, experiment, sandbox, unit.")
    object_id: Filter | None = None
    action: Filter | None = Field(
        default=None, description="Exactly this action (proposal.approve), or a prefix ending in '.' (proposal.)."
    )
    since: datetime | None = Field(default=None, description="Events at or after this moment (timezone-aware).")
    until: datetime | None = Field(default=None, description="Events before this moment (timezone-aware).")
    before: int | None = Field(default=None, ge=1, description="Only events older than this sequence number (paging).")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)

    @field_validator("since", "until")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a timezone (e.g. 2026-11-27T08:00:00Z)")
        return value


# ---- what it gets ---------------------------------------------------------------------------------


class ExperimentSummary(ExperimentView):
    """One row of an experiment listing: the experiment, where it stands, and how much it holds."""

    state: ExperimentState
    sandbox_status: str = Field(description="active, expired or destroyed, as read now.")
    variant_count: int
    latest_proposal_id: str | None = Field(description="The newest proposal made from it, if any.")


class ExperimentListing(BaseModel):
    """A page of experiments, newest first, and how many match the filters in all."""

    experiments: list[ExperimentSummary]
    total: int = Field(description="Experiments matching the filters, over every page.")
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last one."""
        following = self.offset + len(self.experiments)
        return following if following < self.total else None


class BatchView(BaseModel):
    """One `result_log` call as recorded: who logged how many points, when, and their digest."""

    id: int
    logged_by: str
    logged_at: datetime
    points: int
    digest: str
    metrics: list[str] = Field(description="The metrics the batch holds points of.")
    excluded: bool = Field(description="A human left it out of comparisons (`cublab results exclude`); rows kept.")
    excluded_by: str | None
    excluded_at: datetime | None
    exclusion_reason: str | None


class ProposalLink(BaseModel):
    """A proposal an experiment led to, as a listing shows it (the full view is `Proposals.get`)."""

    id: str
    variant_id: str | None
    state: str
    risk: str
    target: str = Field(description="space/unit")
    proposer: str
    created_at: datetime


class VariantSample(BaseModel):
    """At most `limit` measurements of one variant, and the quartiles a box plot draws."""

    variant_id: str
    name: str
    n: int = Field(description="Measurements of the metric this variant holds in all.")
    values: list[float] = Field(
        description="The sample, in storage order; all of them when n <= limit. Excluded batches are left out, as the "
        "comparison leaves them out."
    )
    exact: bool = Field(
        description="True when the sample is every measurement (n <= limit), so the quartiles are exact."
    )
    min: float | None = Field(description="Over every measurement (not only the sample).")
    q1: float | None = Field(description="Lower quartile of the sample (linear interpolation).")
    median: float | None = Field(description="Median of the sample.")
    q3: float | None = Field(description="Upper quartile of the sample.")
    max: float | None = Field(description="Over every measurement (not only the sample).")


class MeasurementSample(BaseModel):
    """What a chart of one metric may draw: a bounded, deterministic sample per variant."""

    experiment_id: str
    metric: str
    limit: int = Field(description="The most values per variant.")
    variants: list[VariantSample]


class ExperimentDetail(BaseModel):
    """Everything a reviewer reads about one experiment, on one page."""

    experiment: ExperimentView
    state: ExperimentState
    sandbox_id: str
    sandbox_name: str
    sandbox_status: str
    variants: list[VariantView] = Field(description="Every variant, oldest first; each config in canonical key order.")
    metrics: list[str] = Field(description="Every metric with measurements, in name order.")
    comparison: Comparison | None = Field(
        description="The comparison of the chosen metric (the objective by default); null when it cannot be computed."
    )
    comparison_problem: str | None = Field(description="Why the comparison is missing, when it is.")
    batches: list[BatchView] = Field(description="Result batches, newest first, at most `batch_limit`.")
    batch_total: int = Field(description="Result batches the experiment holds in all.")
    proposals: list[ProposalLink] = Field(description="Proposals made from this experiment, newest first.")
    sample: MeasurementSample | None = Field(
        description="A chart's bounded sample of the compared metric, when asked for (`sample_limit`)."
    )


class ExportVariant(BaseModel):
    """A variant as exported: its configuration and its statistics for every measured metric."""

    variant: VariantView
    stats: dict[str, dict[str, Any]] = Field(
        description="metric -> rank, n, mean, stddev, min, max, ci_low, ci_high (the comparison's row)."
    )


class ExperimentExport(BaseModel):
    """An experiment's variants and per-variant statistics: what `experiments export` writes as JSON or CSV."""

    format_version: Literal[1] = 1
    experiment: ExperimentView
    comparisons: list[Comparison] = Field(description="One comparison per measured metric, objective first.")
    variants: list[ExportVariant]


class AuditEventView(BaseModel):
    """One audit event as stored, and whether it checks out on its own."""

    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    related: dict[str, Any]
    explanation: str | None
    details: dict[str, Any]
    hash: str
    intact: bool = Field(
        description="Its contents recompute to its hash and, with the audit key loaded, its MAC verifies. "
        "The link to its neighbours is checked by the chain's verification (`Audit.verify`)."
    )


class AuditLogPage(BaseModel):
    """A page of audit events, newest first."""

    events: list[AuditEventView]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null on the last page.")


class RevisionDecision(BaseModel):
    """A human's decision on the proposal behind a revision."""

    actor: str
    decision: str = Field(description="approve, acknowledge, reject or apply")
    reason: str
    at: datetime
    key_fingerprint: str | None


class RevisionSummary(BaseModel):
    """One committed revision of a unit in the embedded authority, and the people behind it.

    `committed_by` is the revision's user: for a proposal, the proposing agent. The
    humans who approved or acknowledged it and who applied it come from the proposal's
    decision records, which is what a reviewer asks of a revision.
    """

    space: str
    unit: str
    revision_num: int
    source: str = Field(description="import, proposal or capture")
    description: str
    created_at: datetime
    data_hash: str
    tags: list[str]
    committed_by: str
    proposal_id: str | None
    experiment_id: str | None
    variant_id: str | None
    approved_by: list[str] = Field(description="Humans who approved or acknowledged it, in the order they did.")
    applied_by: str | None = Field(description="The human who applied it; for an import, the human who imported it.")
    decisions: list[RevisionDecision]


class RevisionDetail(RevisionSummary):
    """A revision with its configuration."""

    data: dict[str, Any]


class UnitHistory(BaseModel):
    """A unit's head and every committed revision, oldest first, with the people behind each."""

    space: str
    unit: str
    head_revision_num: int
    live_revision_num: int
    version: int
    toolchain_type: str
    data: dict[str, Any] = Field(description="The head revision's configuration.")
    revisions: list[RevisionSummary]
