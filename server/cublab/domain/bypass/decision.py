"""The question put to the bypass engine and the answer it gives.

`ChangeFacts` is everything a caller knows about a change it is about to make
outside ConfigHub; `BypassDecision` is the verdict, the criterion that grants it,
the tree walked to reach it and what the change owes afterwards. Both are
frozen: the engine is a function from one to the other. The answer's models are
published in the `bypass_check` tool's output schema, so their shape is a
contract with agents.
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


class ChangeFacts(BaseModel):
    """What the caller knows about a change it is about to make outside ConfigHub."""

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
    confighub_reachable: bool = Field(default=True, description="Whether ConfigHub can be reached now.")
    incident_id: str | None = Field(
        default=None, max_length=200, description="The incident this emergency change belongs to."
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
