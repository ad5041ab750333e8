"""The question put to the bypass engine and the answer it gives.

`ChangeFacts` is everything known about a change an agent is about to make
outside ConfigHub: what the caller describes and claims, and, apart from that,
`verified`: the `Evidence` cublab gathered itself (its own probe of the
authority, the space's tier label, whether the incident was declared and is
open, whether a referenced sandbox is live). `BypassDecision` is the verdict,
the criterion that grants it, the tree walked to reach it, what the change owes
afterwards and, per fact, whether the answer rests on evidence or on a claim.
Both are frozen: the engine is a function from one to the other. The answer's
models are published in the `bypass_check` tool's output schema, so their shape
is a contract with agents.

The principle: a verdict that lets a change skip the authority rests on evidence
cublab can check; a claim the caller makes can only make the answer stricter.
`STRICTNESS` orders the verdicts for that rule (and for the tests of it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cublab.domain.bypass.policy import ReconciliationKind
from cublab.domain.durations import parse_duration
from cublab.domain.errors import InvalidInput

Verdict = Literal["bypass", "bypass_then_reconcile", "use_confighub"]
ContextClass = Literal["production", "local", "sandbox", "ci", "preview", "staging", "other"]

STRICTNESS: dict[Verdict, int] = {"bypass": 0, "bypass_then_reconcile": 1, "use_confighub": 2}
"""How strict each verdict is, in one place: `bypass` (nothing owed to the authority, or
only a bootstrap runbook, a secrets manager or an optional sync) < `bypass_then_reconcile`
(the change skips the authority now and is captured into it within the deadline) <
`use_confighub` (the change goes through the authority). A caller's claim may move an
answer up this order, never down."""


def stricter(a: Verdict, b: Verdict) -> Verdict:
    """The stricter of two verdicts (`STRICTNESS`); where two pieces of evidence disagree, it wins."""
    return a if STRICTNESS[a] >= STRICTNESS[b] else b


def strictness(decision: BypassDecision) -> int:
    """How strict a decision is for the change's configuration: `STRICTNESS` of its verdict, except that
    criterion 5 as *the* answer ranks with `use_confighub`: the seed's "references in ConfigHub, values in
    a secrets manager" sends the configuration through the authority and only the literal values around it."""
    if decision.criterion is not None and decision.criterion.number == 5:
        return STRICTNESS["use_confighub"]
    return STRICTNESS[decision.verdict]


def _optional_duration(value: object) -> object:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError("ttl: must be longer than zero")
        return value
    try:
        return parse_duration(str(value), "ttl")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


OptionalDuration = Annotated[timedelta | None, BeforeValidator(_optional_duration)]


IncidentState = Literal["open", "closed", "undeclared"]
SandboxState = Literal["active", "expired", "destroyed", "unknown"]


class IncidentCheck(BaseModel):
    """What cublab found for the caller's incident id in its own incidents (declared with `breakglass_declare`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(max_length=200)
    state: IncidentState = Field(
        description="open: declared and its obligations not all met; closed: declared, every obligation met; undeclared: never declared."
    )


class SandboxCheck(BaseModel):
    """What cublab found for a sandbox the caller names by id."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(max_length=200)
    state: SandboxState = Field(description="active (live), expired, destroyed, or unknown (no such sandbox).")
    remaining: OptionalDuration = Field(default=None, description="Time until a live sandbox expires.")


class Evidence(BaseModel):
    """What cublab checked itself, never what the caller said. `None` means not checked.

    The engine lets a change skip the authority only on these (or on what it reads in the
    document); the caller's claims in `ChangeFacts` can only make the answer stricter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    confighub_reachable: bool | None = Field(
        default=None, description="cublab's own probe of the configured authority."
    )
    space_tier: str | None = Field(
        default=None,
        max_length=200,
        description="The space's tier label as the authority holds it ('' when the space has none or is unknown).",
    )
    incident: IncidentCheck | None = Field(default=None, description="The caller's incident id, looked up.")
    sandbox: SandboxCheck | None = Field(default=None, description="The caller's sandbox id, looked up.")


class ChangeFacts(BaseModel):
    """What is known about a change about to be made outside ConfigHub: the caller's description and
    claims, and, kept apart in `verified`, the evidence cublab gathered itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(
        default="", max_length=200, description="Resource kind, e.g. 'Deployment'; default: the document's `kind`."
    )
    name: str = Field(default="", max_length=253, description="Resource name; default: the document's metadata.name.")
    space: str | None = Field(
        default=None, max_length=200, description="ConfigHub space the change belongs to, e.g. 'messagewall-prod'."
    )
    namespace: str | None = Field(
        default=None, max_length=253, description="Kubernetes namespace; default: the document's metadata.namespace."
    )
    context: str = Field(
        min_length=1,
        max_length=200,
        description="Where: local, ci, preview, sandbox, staging, production, or a cluster context such as 'kind-dev'.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="The resource's labels (merged over the document's metadata.labels)."
    )
    ttl: OptionalDuration = Field(default=None, description="Intended lifetime, e.g. '2h'; none if it should persist.")
    persist: bool | None = Field(
        default=None, description="Whether the configuration should persist; unknown if omitted."
    )
    document: dict[str, Any] | None = Field(default=None, description="The configuration document itself, if at hand.")
    confighub_reachable: bool | None = Field(
        default=None,
        description="The caller's claim that ConfigHub can (true) or cannot (false) be reached; only cublab's own probe "
        "(`verified.confighub_reachable`) can open break-glass, a claim can only keep the change in ConfigHub.",
    )
    incident_id: str | None = Field(
        default=None,
        max_length=200,
        description="The incident this emergency change belongs to (claimed; it counts once `verified.incident` says it is open).",
    )
    sandbox_id: str | None = Field(
        default=None,
        max_length=200,
        description="The cublab sandbox the change is made in (claimed; criterion 7 once `verified.sandbox` says it is live).",
    )
    adds_value: bool | None = Field(
        default=None,
        description="Would ConfigHub add value? None: let the seed's classification answer (yes unless a criterion says no).",
    )
    secret_paths: list[str] = Field(
        default_factory=list,
        description="JSON Pointers of literal secret values in the document (from the secret gate).",
    )
    is_sandbox_experiment: bool = Field(default=False, description="Set by cublab for its own sandboxes (criterion 7).")
    verified: Evidence = Field(default_factory=Evidence, description="What cublab checked itself.")


class CriterionRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    number: int
    key: str
    name: str


class ReconciliationOwed(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: ReconciliationKind
    text: str
    capture_within: timedelta | None = None
    review_within: timedelta | None = None
    must_declare_incident: bool = False
    steps: list[str] = Field(default_factory=list)


class SecretHandling(BaseModel):
    """What goes where: the reference in the configuration, the value in a secrets manager."""

    model_config = ConfigDict(frozen=True)
    paths: list[str]
    reference_in: str
    value_in: str
    references: list[str]
    managers: list[str]


FactName = Literal["production", "confighub_reachable", "incident", "sandbox", "ttl", "secrets"]
Basis = Literal["verified", "claimed", "none"]


class FactSource(BaseModel):
    """One fact the decision rests on, and whether cublab checked it or the caller said it."""

    model_config = ConfigDict(frozen=True)
    fact: FactName
    claimed: str | None = Field(description="What the caller said; null when it said nothing.")
    verified: str | None = Field(description="What cublab found itself; null when it did not check.")
    used: str = Field(description="What the decision went by.")
    basis: Basis = Field(
        description="verified: cublab's own evidence decided; claimed: the caller's word decided, which only ever "
        "makes the answer stricter; none: nobody said anything, the strict default applies."
    )


class BypassDecision(BaseModel):
    """The engine's answer for one change (named apart from `store.tables.Decision`, the row that logs it)."""

    model_config = ConfigDict(frozen=True)
    verdict: Verdict
    criterion: CriterionRef | None
    also_matched: list[CriterionRef]
    path: list[str]
    reasons: list[str]
    reconciliation: ReconciliationOwed | None
    audit_requirement: str | None
    secrets: SecretHandling | None = None
    refused_label: str | None = None
    observed_paths: list[str] = Field(default_factory=list)
    context_class: ContextClass
    must_declare_incident: bool = Field(
        default=False,
        description="True when the change asks for break-glass (an incident, or ConfigHub down) and no declared, "
        "open incident backs it: declare it with breakglass_declare first.",
    )
    facts: list[FactSource] = Field(
        default_factory=list,
        description="Per fact, whether the answer rests on cublab's evidence or the caller's claim.",
    )
