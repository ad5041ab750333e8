"""One pydantic model per tool input.

The MCP adapter publishes these as the tools' input schemas, and the CLI builds
the same models, so a limit written here holds on every path. Field
descriptions are what an agent reads: they say the unit and the limit.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_POINTS_PER_CALL = 10_000
MAX_CONFIG_BYTES = 1024 * 1024

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Slug = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Explanation = Annotated[
    str | None,
    Field(default=None, max_length=2000, description="Why you are doing this, in a sentence; recorded in the audit log."),
]
Limit = Annotated[int, Field(default=50, ge=1, le=200, description="Page size, 1 to 200.")]
Cursor = Annotated[str | None, Field(default=None, max_length=64, description="`next_cursor` of the previous page; omit for the first page.")]


def _labels(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 64:
        raise ValueError(f"at most 64 labels, got {len(value)}")
    for key, val in value.items():
        if not key or len(key) > 63:
            raise ValueError(f"label key {key[:70]!r} must be 1 to 63 characters")
        if len(val) > 200:
            raise ValueError(f"label {key!r} value is {len(val)} characters; the limit is 200")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number (NaN and infinity are refused)")
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpawnSandbox(Input):
    name: Name = Field(description="A short name for the test environment, 1 to 200 characters.")
    purpose: Text = Field(min_length=1, description="What the sandbox is for, in a sentence.")
    ttl: str | None = Field(default=None, max_length=32, description="Lifetime such as '90m', '2h' or '3d'; default 24h, at most 72h (the policy's limits).")
    labels: Labels = Field(default_factory=dict, description="Extra labels (string to string, at most 64); cublab adds ephemeral, ttl, bypass-confighub and bypass-criterion.")
    explanation: Explanation


class SandboxRef(Input):
    sandbox_id: Id = Field(description="The sandbox's id (sbx_…).")


class ListSandboxes(Input):
    status: Literal["active", "destroyed", "expired"] | None = Field(default=None, description="Only sandboxes in this state.")
    limit: Limit
    cursor: Cursor


class RenewSandbox(Input):
    sandbox_id: Id = Field(description="The sandbox's id (sbx_…).")
    ttl: str | None = Field(default=None, max_length=32, description="New lifetime from now, e.g. '2h'; default: the sandbox's current ttl; at most 72h.")
    explanation: Explanation


class DestroySandbox(Input):
    sandbox_id: Id = Field(description="The sandbox's id (sbx_…).")
    explanation: Explanation


class CreateExperiment(Input):
    sandbox_id: Id = Field(description="The live sandbox the experiment runs in (sbx_…).")
    name: Name = Field(description="A short name, 1 to 200 characters.")
    hypothesis: Text = Field(min_length=1, description="What you expect to find, in a sentence.")
    objective_metric: Name = Field(description="The metric that decides the winner, e.g. 'p95_latency_ms'.")
    direction: Literal["minimize", "maximize"] = Field(description="Whether lower ('minimize') or higher ('maximize') values of the objective are better.")
    target_space: Slug | None = Field(default=None, description="The authority space the winner would change, e.g. 'messagewall-prod'. Needed before promotion.")
    target_unit: Slug | None = Field(default=None, description="The unit (configuration document) in that space the winner would change.")
    explanation: Explanation


class ExperimentRef(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")


class ListExperiments(Input):
    sandbox_id: Id | None = Field(default=None, description="Only experiments in this sandbox.")
    limit: Limit
    cursor: Cursor


class LogVariant(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")
    name: Name = Field(description="A short name for this variant, unique in the experiment.")
    config: dict[str, Any] | str = Field(description="The configuration: a JSON object, or YAML text of a mapping; at most 1 MiB. Secrets only as references.")
    description: Text = Field(default="", description="What differs in this variant.")
    explanation: Explanation


class Point(Input):
    variant: Id = Field(description="The variant's id (var_…) or its name in this experiment.")
    metric: Name = Field(description="Metric name, e.g. 'p95_latency_ms'.")
    value: Annotated[float, AfterValidator(_finite)] = Field(description="The measured value; must be finite.")
    step: int | None = Field(default=None, ge=0, description="Optional step (e.g. load level or iteration).")
    repetition: int | None = Field(default=None, ge=0, description="Optional repetition number.")


class LogResults(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")
    points: list[Point] = Field(min_length=1, max_length=MAX_POINTS_PER_CALL, description="1 to 10,000 measurements, inserted together or not at all.")
    explanation: Explanation


class CompareExperiment(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")
    metric: Name | None = Field(default=None, description="Metric to compare; default: the experiment's objective metric.")


class PromoteVariant(Input):
    variant_id: Id = Field(description="The variant to propose (var_…); normally the experiment's winner.")
    rationale: Text = Field(min_length=1, description="Why this change should be made, in a few sentences; reviewers read it.")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are this change is right, 0 to 1.")
    model: Annotated[str, StringConstraints(max_length=200)] | None = Field(default=None, description="The model you run on, e.g. 'claude-sonnet-4'; recorded as provenance.")
    justification: Text | None = Field(default=None, description="Required to promote a variant that is not the winner by experiment_compare: why anyway. Shown to reviewers.")
    target_space: Slug | None = Field(default=None, description="Override the experiment's target space.")
    target_unit: Slug | None = Field(default=None, description="Override the experiment's target unit.")
    new_unit: bool = Field(default=False, description="True to propose a unit that does not exist yet (risk at least MEDIUM).")
    explanation: Explanation


class ProposalRef(Input):
    proposal_id: Id = Field(description="The proposal's id (prp_…).")


class ListProposals(Input):
    state: Literal["pending", "approved", "applied", "rejected", "expired", "stale"] | None = Field(default=None, description="Only proposals in this state.")
    experiment_id: Id | None = Field(default=None, description="Only proposals from this experiment.")
    limit: Limit
    cursor: Cursor
