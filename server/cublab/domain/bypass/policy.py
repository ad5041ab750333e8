"""The `bypass:` section of the policy file, as validated data.

The seed "When to Bypass ConfigHub" is written down in `policies/default.yaml`:
its principle, decision tree, eight criteria, break-glass deadlines and the
vocabularies that recognise a context, platform infrastructure, observability,
secrets and observed state. These models refuse a policy the engine could not
walk (a renumbered criterion, a changed reconciliation, a reordered tree) at
start-up, so `engine.py` may read them without checking again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cublab.domain.base import Duration, Strict

ReconciliationKind = Literal[
    "none", "separate_bootstrap", "required", "reference_only", "winning_variant_proposal", "optional"
]

# The engine's rules are written against these meanings, so a policy file may
# reword and re-tune the criteria but not renumber them or change what they owe.
CRITERION_KEYS: dict[int, str] = {
    1: "ephemeral",
    2: "local_development",
    3: "platform_infrastructure",
    4: "break_glass",
    5: "secrets",
    6: "realtime_data",
    7: "agent_experimentation",
    8: "observability",
}
CRITERION_RECONCILIATION: dict[int, ReconciliationKind] = {
    1: "none",
    2: "none",
    3: "separate_bootstrap",
    4: "required",
    5: "reference_only",
    6: "none",
    7: "winning_variant_proposal",
    8: "optional",
}
TREE_KEYS = ("persist", "secrets", "available", "adds_value")


# ---- the policy, as data ------------------------------------------------------------


def _pointers(values: list[str], field: str) -> list[str]:
    for value in values:
        if not value.startswith("/"):
            raise ValueError(f"{field}: {value!r} is not a JSON Pointer (it must start with '/')")
    return values


class Principle(Strict):
    benefits: list[str] = Field(min_length=1)
    costs: list[str] = Field(min_length=1)
    statement: str


class TreeNode(Strict):
    key: Literal["persist", "secrets", "available", "adds_value"]
    question: str = Field(min_length=1)
    if_yes: str
    if_no: str


class BreakGlassRules(Strict):
    capture_within: Duration = Field(description="live state captured into ConfigHub within this (seed: 1 hour)")
    review_within: Duration = Field(description="post-incident review within this (seed: 24 hours)")
    capture: str
    review: str
    tag: str = Field(min_length=1)
    declare: str = Field(
        default="Declare the incident with breakglass_declare (incident id, reason, affected units) so the capture "
        "obligation has an owner and deadlines, then ask again.",
        description="what to do when break-glass is asked for and no declared, open incident backs it",
    )

    @model_validator(mode="after")
    def _capture_first(self) -> BreakGlassRules:
        if self.capture_within > self.review_within:
            raise ValueError("breakglass.capture_within must not exceed breakglass.review_within")
        return self


class EphemeralRules(Strict):
    max_ttl: Duration = Field(description="a longer ttl is not ephemeral (criterion 1: minutes to hours)")
    contexts: list[str] = Field(description="context classes whose resources are cleaned up for you (ci, preview)")
    kinds: list[str] = Field(default_factory=list, description="kinds that claim to be ephemeral")


class LabelNames(Strict):
    bypass: str
    ephemeral: str
    ttl: str
    managed_by: str = Field(
        default="app.kubernetes.io/managed-by", description="the label naming the controller that manages a resource"
    )


class ContextRules(Strict):
    """Glob patterns per context class; production is tested first and wins every tie."""

    production: list[str] = Field(min_length=1)
    local: list[str]
    sandbox: list[str]
    ci: list[str]
    preview: list[str]
    staging: list[str]
    local_document_markers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _markers(self) -> ContextRules:
        _pointers(self.local_document_markers, "contexts.local_document_markers")
        return self


class Matcher(Strict):
    """Recognises a component by kind, API group, name, container image, labels or document content (globs,
    case-insensitive). `namespaces` only says where such components usually run: a namespace alone is not
    evidence, so it never recognises a resource by itself (the engine says so when it is all there is)."""

    kinds: list[str] = Field(default_factory=list)
    api_groups: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list, description="where these components run; never enough alone")
    names: list[str] = Field(default_factory=list)
    images: list[str] = Field(
        default_factory=list, description="container images, without tag or digest (e.g. '*argoproj/argocd')"
    )
    label_values: dict[str, list[str]] = Field(default_factory=dict)
    document_markers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _markers(self) -> Matcher:
        _pointers(self.document_markers, "document_markers")
        return self


class BootstrapChain(Strict):
    not_in_confighub: list[str]
    in_confighub: list[str]


class PlatformRules(Matcher):
    bootstrap_chain: BootstrapChain


class SecretRules(Strict):
    kinds: list[str] = Field(description="kinds whose values are secrets by definition (Secret)")
    value_keys: list[str] = Field(description="the keys holding the values in those kinds (data, stringData)")
    reference_examples: list[str] = Field(min_length=1)
    managers: list[str] = Field(min_length=1)


class OwnedField(Strict):
    """A controller that owns observed state (a service mesh, an autoscaler, a progressive-delivery or
    event-driven scaler, a cluster autoscaler), the fields it owns at run time, and the signs in a document
    that it owns them: the `managed_by` label, an ownerReference kind, an annotation, or a path."""

    owner: str
    paths: list[str] = Field(
        min_length=1,
        description="JSON Pointers; '*' matches any one key or index, '**' any number of levels (wherever it sits)",
    )
    managed_by: list[str] = Field(default_factory=list, description="globs for the managed-by label's value")
    when_paths: list[str] = Field(default_factory=list)
    when_owner_kinds: list[str] = Field(default_factory=list)
    when_annotations: list[str] = Field(default_factory=list, description="globs for annotation keys")

    @model_validator(mode="after")
    def _valid(self) -> OwnedField:
        _pointers(self.paths, "owned_fields.paths")
        _pointers(self.when_paths, "owned_fields.when_paths")
        if not (self.managed_by or self.when_paths or self.when_owner_kinds or self.when_annotations):
            raise ValueError(
                f"owned_fields ({self.owner}): name at least one sign of ownership (managed_by, when_paths, when_owner_kinds or when_annotations)"
            )
        return self


class ObservedStateRules(Strict):
    sections: list[str] = Field(description="top-level keys that are observed state (status)")
    keys: list[str] = Field(description="keys that are observed state wherever they appear")
    kinds: list[str] = Field(description="kinds that are observed state as a whole")
    owned_fields: list[OwnedField] = Field(default_factory=list)


class ReconciliationRule(Strict):
    kind: ReconciliationKind
    text: str = Field(min_length=1)
    steps: list[str] = Field(default_factory=list, description="what the caller does next, in order")


class AuditRow(Strict):
    scenario: str
    requirement: str


class SummaryRow(Strict):
    scenario: str
    bypass_ok: bool
    reconciliation_required: str


class Criterion(Strict):
    number: int = Field(ge=1, le=8)
    key: str
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    examples: list[str] = Field(min_length=1)
    why: str = Field(min_length=1)
    reconciliation: ReconciliationRule
    audit: AuditRow
    summary: SummaryRow


class NotFor(Strict):
    title: str
    use: list[str] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list)
    statement: str
    criteria: list[int] = Field(description="the criteria that cover it; [] = not configuration at all")


class BypassPolicy(Strict):
    """The `bypass:` section of the policy file: everything in the seed, validated at start-up."""

    principle: Principle
    key_principles: list[str] = Field(min_length=1)
    decision_tree: list[TreeNode]
    breakglass: BreakGlassRules
    ephemeral: EphemeralRules
    labels: LabelNames
    contexts: ContextRules
    platform: PlatformRules
    observability: Matcher
    secrets: SecretRules
    observed_state: ObservedStateRules
    criteria: list[Criterion]
    not_for: list[NotFor] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> BypassPolicy:
        numbers = [c.number for c in self.criteria]
        if sorted(numbers) != list(range(1, 9)) or len(numbers) != 8:
            raise ValueError(f"criteria: exactly the eight criteria numbered 1 to 8 are required, got {numbers}")
        for c in self.criteria:
            if c.key != CRITERION_KEYS[c.number]:
                raise ValueError(f"criteria[{c.number}].key: must be {CRITERION_KEYS[c.number]!r}, got {c.key!r}")
            if c.reconciliation.kind != CRITERION_RECONCILIATION[c.number]:
                raise ValueError(
                    f"criteria[{c.number}].reconciliation.kind: must be {CRITERION_RECONCILIATION[c.number]!r} (the seed's expectation), got {c.reconciliation.kind!r}"
                )
        keys = tuple(n.key for n in self.decision_tree)
        if keys != TREE_KEYS:
            raise ValueError(
                f"decision_tree: the four questions must be {list(TREE_KEYS)} in this order, got {list(keys)}"
            )
        for entry in self.not_for:
            bad = [n for n in entry.criteria if n not in CRITERION_KEYS]
            if bad:
                raise ValueError(f"not_for ({entry.title}).criteria: {bad} are not criterion numbers 1 to 8")
        return self

    def criterion(self, number: int) -> Criterion:
        return next(c for c in self.criteria if c.number == number)

    def node(self, key: str) -> TreeNode:
        return next(n for n in self.decision_tree if n.key == key)
