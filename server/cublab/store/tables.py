"""The ledger's tables. Every row names who created it (`created_by`).

Measurements are the one high-volume table, so they are narrow: integers and
the value. A point is keyed by its batch and its position in it; the batch
carries the identity, time and digest once per call, and the point's series
(experiment, variant, metric) is one integer naming a `result_summary` row,
which holds that series' running statistics. Comparisons read the summaries,
never the points.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig

from cublab.domain.states import ExportStatus, ObligationStatus, ProposalState, SandboxStatus
from cublab.store.types import UTCDateTime


def _time(nullable: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable))


class _Table(SQLModel):
    """What every table shares: its pydantic schema is built when a row is first validated or dumped, not
    when the module is imported. Most rows are only ever read and written through SQLAlchemy, and
    building the schemas of every table is an eighth of what importing the tables costs (the first
    tool call of a new `cublab serve` does)."""

    model_config = SQLModelConfig(defer_build=True)


def table_of(model: type[SQLModel]) -> Table:
    """A model's Core table, for statements that skip the ORM (SQLModel hides `__table__` from type checkers)."""
    table: Table = SQLModel.metadata.tables[str(model.__tablename__)]  # every model here names its table
    return table


class Sandbox(_Table, table=True):
    __tablename__ = "sandbox"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    owner: str = Field(sa_column=Column(String(200), nullable=False))
    ttl_seconds: int = Field(sa_column=Column(Integer, nullable=False))
    labels: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    status: SandboxStatus = Field(sa_column=Column(String(16), nullable=False, index=True))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()
    expires_at: datetime = _time()
    destroyed_at: datetime | None = _time(nullable=True)


class Experiment(_Table, table=True):
    __tablename__ = "experiment"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    sandbox_id: str = Field(sa_column=Column(String(40), ForeignKey("sandbox.id"), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    hypothesis: str = Field(sa_column=Column(Text, nullable=False))
    objective_metric: str = Field(sa_column=Column(String(200), nullable=False))
    direction: str = Field(sa_column=Column(String(8), nullable=False))
    target_space: str | None = Field(sa_column=Column(String(200), nullable=True))
    target_unit: str | None = Field(sa_column=Column(String(200), nullable=True))
    owner: str = Field(sa_column=Column(String(200), nullable=False))  # the principal that may write to it
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()


class Variant(_Table, table=True):
    __tablename__ = "variant"
    __table_args__ = (
        UniqueConstraint("experiment_id", "content_hash", name="uq_variant_content"),
        UniqueConstraint("experiment_id", "name", name="uq_variant_name"),
    )

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    experiment_id: str = Field(sa_column=Column(String(40), ForeignKey("experiment.id"), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    config_json: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(sa_column=Column(String(80), nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()


class ResultBatch(_Table, table=True):
    """One `result_log` call: who recorded which points, when, and their digest."""

    __tablename__ = "result_batch"
    __table_args__ = (
        # An experiment's batches, and whether any is excluded, in one seek (compare asks on every call):
        # its points are read through its batches (verify-summaries, the chart sample).
        Index("ix_result_batch_experiment_excluded", "experiment_id", "excluded_at"),
        Index("ix_result_batch_created_at", "created_at"),
        # The points_per_hour quota: a principal's last batch, and its last batch before the hour, in two seeks
        # read from the index alone (app/quotas.py).
        Index("ix_result_batch_principal_total", "principal", "created_at", "principal_total"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    experiment_id: str = Field(sa_column=Column(String(40), ForeignKey("experiment.id"), nullable=False))
    point_count: int = Field(sa_column=Column(Integer, nullable=False))
    digest: str = Field(sa_column=Column(String(80), nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()
    # A human's way out of a bad batch (`cublab results exclude`): its rows stay, comparisons skip them.
    excluded_at: datetime | None = _time(nullable=True)
    excluded_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    exclusion_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The principal of `created_by` and the running total of the points that principal logged up to and including
    # this batch, so the points of any window are the difference of two totals (app/quotas.py points_per_hour).
    # Every writer sets both (store/results.py insert_batch); migration 0011 filled them in for older batches.
    principal: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    principal_total: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ResultSummary(_Table, table=True):
    """One series, the points of one metric of one variant, and its running statistics.

    `n`, `mean`, `m2` (the sum of squared deviations from the mean), `min` and
    `max` are merged with every batch in the batch's own transaction (domain/stats.py
    `merge`), so a comparison reads one row per variant. `id` is the integer the
    series' measurements carry. `cublab experiments verify-summaries` recomputes
    them from the measurements.
    """

    __tablename__ = "result_summary"
    __table_args__ = (UniqueConstraint("experiment_id", "metric", "variant_id", name="uq_result_summary_series"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    experiment_id: str = Field(sa_column=Column(String(40), ForeignKey("experiment.id"), nullable=False))
    metric: str = Field(sa_column=Column(String(200), nullable=False))
    variant_id: str = Field(sa_column=Column(String(40), ForeignKey("variant.id"), nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))
    mean: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    m2: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    min: float | None = Field(default=None, sa_column=Column(Float(precision=53), nullable=True))
    max: float | None = Field(default=None, sa_column=Column(Float(precision=53), nullable=True))


class Measurement(_Table, table=True):
    """One point: its batch, its position in the batch, its series, and what was measured.

    The primary key is the only index: inserts append (batch ids grow, positions
    grow within a batch) and a batch's points are one range. On SQLite the table
    is WITHOUT ROWID, so the key is the row and a point takes about 30 bytes.
    No foreign keys: the one writer (app/experiments.py `log_results`) inserts a
    batch's points in the transaction that creates the batch and its series, and a
    per-row parent lookup would cost as much as the insert.
    """

    __tablename__ = "measurement"
    __table_args__ = ({"sqlite_with_rowid": False},)

    batch_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    series_id: int = Field(sa_column=Column(Integer, nullable=False))
    value: float = Field(sa_column=Column(Float(precision=53), nullable=False))
    step: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    repetition: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))


class AuditEvent(_Table, table=True):
    """Append-only and hash-chained: `hash` covers every other field and `prev_hash`.

    `mac` authenticates `hash` with the audit key, which is kept outside the
    database (store/audit_key.py); it is NULL on events from before the key existed.
    """

    __tablename__ = "audit_event"

    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    at: str = Field(sa_column=Column(String(40), nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    action: str = Field(sa_column=Column(String(80), nullable=False, index=True))
    object_type: str = Field(sa_column=Column(String(40), nullable=False))
    object_id: str = Field(sa_column=Column(String(80), nullable=False, index=True))
    related: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    explanation: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    details: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(80), nullable=False))
    hash: str = Field(sa_column=Column(String(80), nullable=False))
    mac: str | None = Field(default=None, sa_column=Column(String(80), nullable=True))


class AuditHead(_Table, table=True):
    """The chain's newest link, so deleting the last events is detectable too."""

    __tablename__ = "audit_head"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    hash: str = Field(sa_column=Column(String(80), nullable=False))


# ---- the embedded authority: ConfigHub's objects, same names and meanings ------------------


class Space(_Table, table=True):
    __tablename__ = "ch_space"

    space_id: str = Field(sa_column=Column(String(40), primary_key=True))
    slug: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    labels: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()


class Unit(_Table, table=True):
    __tablename__ = "ch_unit"
    __table_args__ = (UniqueConstraint("space_id", "slug", name="uq_unit_slug"),)

    unit_id: str = Field(sa_column=Column(String(40), primary_key=True))
    space_id: str = Field(sa_column=Column(String(40), ForeignKey("ch_space.space_id"), nullable=False))
    slug: str = Field(sa_column=Column(String(200), nullable=False))
    toolchain_type: str = Field(sa_column=Column(String(80), nullable=False))
    data: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON of the head revision
    labels: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    head_revision_num: int = Field(sa_column=Column(Integer, nullable=False))
    live_revision_num: int = Field(sa_column=Column(Integer, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))  # optimistic concurrency, as Unit.Version
    last_change_description: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()
    updated_at: datetime = _time()


class ChangeSet(_Table, table=True):
    __tablename__ = "ch_change_set"
    __table_args__ = (UniqueConstraint("space_id", "slug", name="uq_change_set_slug"),)

    change_set_id: str = Field(sa_column=Column(String(40), primary_key=True))
    space_id: str = Field(sa_column=Column(String(40), ForeignKey("ch_space.space_id"), nullable=False))
    slug: str = Field(sa_column=Column(String(200), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    labels: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))  # open | applied | abandoned
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()


class Revision(_Table, table=True):
    """Immutable once committed. A proposal's revision waits as `pending` (no number yet)
    in its change set; applying it gives it the next number and makes it head and live."""

    __tablename__ = "ch_revision"
    __table_args__ = (UniqueConstraint("unit_id", "revision_num", name="uq_revision_num"),)

    revision_id: str = Field(sa_column=Column(String(40), primary_key=True))
    unit_id: str | None = Field(sa_column=Column(String(40), ForeignKey("ch_unit.unit_id"), nullable=True, index=True))
    space_id: str = Field(sa_column=Column(String(40), ForeignKey("ch_space.space_id"), nullable=False))
    unit_slug: str = Field(sa_column=Column(String(200), nullable=False))  # a pending new unit has no unit_id yet
    revision_num: int | None = Field(sa_column=Column(Integer, nullable=True))
    state: str = Field(sa_column=Column(String(16), nullable=False))  # committed | pending | discarded
    data: str = Field(sa_column=Column(Text, nullable=False))
    data_hash: str = Field(sa_column=Column(String(80), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(String(40), nullable=False))  # import | proposal | capture
    user_id: str = Field(sa_column=Column(String(200), nullable=False))
    approved_by: list[str] = Field(sa_column=Column(JSON, nullable=False))
    change_set_id: str | None = Field(
        sa_column=Column(String(40), ForeignKey("ch_change_set.change_set_id"), nullable=True)
    )
    tags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    labels: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    base_revision_num: int | None = Field(sa_column=Column(Integer, nullable=True))
    created_at: datetime = _time()


class Tag(_Table, table=True):
    __tablename__ = "ch_tag"
    __table_args__ = (UniqueConstraint("space_id", "slug", name="uq_tag_slug"),)

    tag_id: str = Field(sa_column=Column(String(40), primary_key=True))
    space_id: str = Field(sa_column=Column(String(40), ForeignKey("ch_space.space_id"), nullable=False))
    slug: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()


# ---- proposals: cublab's side of step 5 --------------------------------------------------------


class Proposal(_Table, table=True):
    __tablename__ = "proposal"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    kind: str = Field(
        default="variant", sa_column=Column(String(16), nullable=False, server_default="variant")
    )  # variant | capture
    experiment_id: str | None = Field(
        sa_column=Column(String(40), ForeignKey("experiment.id"), nullable=True, index=True)
    )
    variant_id: str | None = Field(sa_column=Column(String(40), ForeignKey("variant.id"), nullable=True, index=True))
    incident_id: str | None = Field(
        default=None, sa_column=Column(String(80), ForeignKey("incident.id"), nullable=True, index=True)
    )
    target_space: str = Field(sa_column=Column(String(200), nullable=False))
    target_unit: str = Field(sa_column=Column(String(200), nullable=False))
    new_unit: bool = Field(sa_column=Column(Boolean, nullable=False))
    base_revision_num: int | None = Field(sa_column=Column(Integer, nullable=True))
    base_version: int | None = Field(sa_column=Column(Integer, nullable=True))
    patch: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    rationale: str = Field(sa_column=Column(Text, nullable=False))
    justification: str | None = Field(sa_column=Column(Text, nullable=True))
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    proposer: str = Field(sa_column=Column(String(200), nullable=False))
    proposer_model: str | None = Field(sa_column=Column(String(200), nullable=True))
    confidence: float = Field(sa_column=Column(Float, nullable=False))
    risk_class: str = Field(sa_column=Column(String(8), nullable=False))
    risk_rationale: list[str] = Field(sa_column=Column(JSON, nullable=False))
    requirement: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: ProposalState = Field(sa_column=Column(String(16), nullable=False, index=True))
    state_reason: str | None = Field(sa_column=Column(Text, nullable=True))
    authority: str = Field(sa_column=Column(String(40), nullable=False))
    change_set_id: str | None = Field(sa_column=Column(String(40), nullable=True))
    revision_id: str | None = Field(sa_column=Column(String(40), nullable=True))
    policy_digest: str = Field(sa_column=Column(String(80), nullable=False))
    created_at: datetime = _time()
    expires_at: datetime = _time()
    decided_at: datetime | None = _time(nullable=True)


class ProposalDecision(_Table, table=True):
    """An approval record: approver, role, time, decision, reason."""

    __tablename__ = "proposal_decision"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    proposal_id: str = Field(sa_column=Column(String(40), ForeignKey("proposal.id"), nullable=False, index=True))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    role: str = Field(sa_column=Column(String(80), nullable=False))
    decision: str = Field(sa_column=Column(String(16), nullable=False))  # approve | acknowledge | reject | apply
    reason: str = Field(sa_column=Column(Text, nullable=False))
    os_account: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    key_fingerprint: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    signature: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # armored SSHSIG
    created_at: datetime = _time()


# ---- the bypass decision log and break-glass reconciliation ---------------------------------


class Decision(_Table, table=True):
    """One `bypass_check` answer. Inputs are digested and summarised; no value is kept."""

    __tablename__ = "bypass_decision"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    verdict: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    criterion: int | None = Field(sa_column=Column(Integer, nullable=True, index=True))
    also_matched: list[int] = Field(sa_column=Column(JSON, nullable=False))
    path: list[str] = Field(sa_column=Column(JSON, nullable=False))
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    reconciliation: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    audit_requirement: str = Field(sa_column=Column(Text, nullable=False))
    subject: dict[str, Any] = Field(
        sa_column=Column(JSON, nullable=False)
    )  # kind, name, context, labels, paths: no values
    inputs_digest: str = Field(sa_column=Column(String(80), nullable=False))
    policy_digest: str = Field(sa_column=Column(String(80), nullable=False))
    created_at: datetime = _time()


class Incident(_Table, table=True):
    """A declared break-glass emergency: the bypass that owes reconciliation."""

    __tablename__ = "incident"

    id: str = Field(sa_column=Column(String(80), primary_key=True))  # the incident id as the responders name it
    reason: str = Field(sa_column=Column(Text, nullable=False))
    units: list[str] = Field(sa_column=Column(JSON, nullable=False))  # "space/unit"
    declared_by: str = Field(sa_column=Column(String(200), nullable=False))
    policy_digest: str = Field(sa_column=Column(String(80), nullable=False))
    declared_at: datetime = _time()


class Obligation(_Table, table=True):
    """What a bypass owes, with its deadline: a capture per unit (1 h), a review per incident (24 h)."""

    __tablename__ = "obligation"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    incident_id: str = Field(sa_column=Column(String(80), ForeignKey("incident.id"), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # capture | review
    unit: str | None = Field(sa_column=Column(String(401), nullable=True))  # "space/unit" for a capture
    status: ObligationStatus = Field(
        sa_column=Column(String(16), nullable=False, index=True)
    )  # open | met (overdue is read)
    due_at: datetime = _time()
    met_at: datetime | None = _time(nullable=True)
    met_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()


# ---- the outbox: proposals on their way to a remote authority (ConfigHub) ------------------------


class AuthorityExport(_Table, table=True):
    """One proposal's export to a remote authority: first its outbox entry, then where it landed.

    `status`: queued (waiting for delivery), delivering (claimed by one flusher
    until `claimed_until`), delivered, held (401/403 or another refusal: an
    operator must act before a retry), stale or expired (never delivered).
    """

    __tablename__ = "authority_export"

    proposal_id: str = Field(
        sa_column=Column(String(40), ForeignKey("proposal.id", name="fk_authority_export_proposal"), primary_key=True)
    )
    authority: str = Field(sa_column=Column(String(40), nullable=False))
    mode: str = Field(sa_column=Column(String(16), nullable=False))  # shadow | in-place
    status: ExportStatus = Field(sa_column=Column(String(16), nullable=False, index=True))
    request: dict[str, Any] = Field(
        sa_column=Column(JSON, nullable=False)
    )  # the proposed data and the change set's text
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    claimed_by: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    claimed_until: datetime | None = _time(nullable=True)
    change_set_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    change_set_slug: str = Field(sa_column=Column(String(200), nullable=False))
    space_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    unit_space: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    unit_space_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    unit_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    unit_slug: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    revision_num: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    observed: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # the last sync's reading
    created_at: datetime = _time()
    updated_at: datetime = _time()
    delivered_at: datetime | None = _time(nullable=True)
    synced_at: datetime | None = _time(nullable=True)


# ---- idempotency keys: a retried mutation returns its first answer ------------------------------


class IdempotencyRecord(_Table, table=True):
    """A mutating call made with an `idempotency_key`, written in the call's own transaction (app/idempotency.py).

    The key itself is stored only as a digest (a random key reads like a credential); the primary key makes
    two concurrent calls with one key collide, so only one of them writes. `answer` is the first answer,
    returned again to every repeat; rows older than the longest sandbox lifetime are pruned.
    """

    __tablename__ = "idempotency_record"

    principal: str = Field(sa_column=Column(String(200), primary_key=True))
    tool: str = Field(sa_column=Column(String(64), primary_key=True))
    key_digest: str = Field(sa_column=Column(String(80), primary_key=True))
    arguments_digest: str = Field(sa_column=Column(String(80), nullable=False))
    answer: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class AgentToken(_Table, table=True):
    """A bearer token for the shared HTTP server (`cublab tokens`): who it names, what it may do, when it ends.

    Only the SHA-256 of the token is kept (`token_hash`, looked up by its unique index): the token itself is
    printed once at creation and exists nowhere else. A token is 256 random bits, so a plain hash is enough;
    nothing here helps someone who can read the database call the server.
    """

    __tablename__ = "agent_token"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    agent: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    scope: str = Field(sa_column=Column(String(16), nullable=False))  # read | write
    toolsets: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))  # None: every toolset
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = _time()
    expires_at: datetime | None = _time(nullable=True)
    revoked_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    revoked_at: datetime | None = _time(nullable=True)


class QuotaOverride(_Table, table=True):
    """A human's raise (or cut) of one policy quota for one principal (`cublab quotas set`)."""

    __tablename__ = "quota_override"

    principal: str = Field(sa_column=Column(String(200), primary_key=True))
    name: str = Field(sa_column=Column(String(40), primary_key=True))
    value: int = Field(sa_column=Column(Integer, nullable=False))
    set_by: str = Field(sa_column=Column(String(200), nullable=False))
    set_at: datetime = _time()
