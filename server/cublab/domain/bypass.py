"""The bypass decision engine: the seed "When to Bypass ConfigHub" as a pure function.

`decide(facts, policy)` walks the seed's decision framework and answers whether a
change may bypass ConfigHub, under which of the eight criteria, and what it owes
afterwards. It reads no clock, no database and no network: the caller (the use
case) supplies every fact, including the literal-secret paths found by the secret
gate and whether ConfigHub is reachable, so the same facts always give the same
decision and the whole policy can be tested as a table.

Precedence (which criterion is *the* answer when several hold). The tree's
questions are asked in the seed's order: persist? -> secrets? -> available? ->
adds value?, and the first question that answers "bypass" names the criterion:

1. persist? No: 7 (a cublab sandbox experiment) > 1 (ephemeral: a ttl within the
   policy maximum, or a CI/preview context) > 6 (the document is observed state
   only: "this isn't configuration").
2. secrets? Criteria 5 and 6 are *part-of-document* criteria: they settle where
   a part goes (a secret's value to a secrets manager, observed state nowhere) and
   the rest of the document continues down the tree. So secrets are primary only
   when the rest would go to ConfigHub (the tree's own "Yes -> Bypass (use secrets
   manager)": references in, values out). Otherwise the rest's criterion is primary
   and 5 is listed in `also_matched`; the `secrets` part of the answer is present
   in every verdict, and no verdict ever puts a secret's value in ConfigHub. This
   is what keeps a break-glass change carrying a secret under its 1 h capture.
3. available? A local context never needs ConfigHub (break-glass does not apply to
   a laptop), so it goes straight to question 4. Otherwise: 3 (platform
   infrastructure: ConfigHub can't manage its own prerequisites, so a break-glass
   change to it is recorded in the bootstrap runbook, not captured into
   ConfigHub) > 4 (an incident, or ConfigHub unreachable: bypass, then reconcile).
4. adds value? An explicit `adds_value=True` opts in (use ConfigHub even for
   observability or local work: "ongoing changes can optionally flow through
   ConfigHub"). Otherwise 2 (local) > 8 (observability) answer "No". A bare
   `adds_value=False` that no criterion backs is refused: use ConfigHub.

Net order of the primary criterion: 7 > 1 > 6 (whole document) > 2 > 3 > 4 > 8 > 5.
A production context never qualifies as local or as a sandbox. A `bypass-confighub:
"true"` label with no criterion that holds is refused, never waved through.
Verdict rule: `bypass_then_reconcile` exactly when the primary criterion's
reconciliation is `required` (criterion 4); `bypass` with any other criterion;
`use_confighub` with none.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from cublab.domain.base import Duration, Strict
from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import InvalidInput
from cublab.domain.pointers import child, pointer, tokens

ReconciliationKind = Literal[
    "none", "separate_bootstrap", "required", "reference_only", "winning_variant_proposal", "optional"
]
Verdict = Literal["bypass", "bypass_then_reconcile", "use_confighub"]
ContextClass = Literal["production", "local", "sandbox", "ci", "preview", "staging", "other"]

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
    """Recognises a resource by kind, API group, namespace, name, labels or document content (globs, case-insensitive)."""

    kinds: list[str] = Field(default_factory=list)
    api_groups: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
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
    """Fields a controller owns at run time (observed state), when the document shows the owner."""

    owner: str
    paths: list[str] = Field(min_length=1, description="JSON Pointers; '*' matches any one key or index")
    when_paths: list[str] = Field(default_factory=list)
    when_owner_kinds: list[str] = Field(default_factory=list)
    when_annotations: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> OwnedField:
        _pointers(self.paths, "owned_fields.paths")
        _pointers(self.when_paths, "owned_fields.when_paths")
        if not (self.when_paths or self.when_owner_kinds or self.when_annotations):
            raise ValueError(
                f"owned_fields ({self.owner}): name at least one sign of ownership (when_paths, when_owner_kinds or when_annotations)"
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


# ---- the question and the answer -----------------------------------------------------


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


class Decision(BaseModel):
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


# ---- reading the document ------------------------------------------------------------


@lru_cache(maxsize=512)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regular expression per vocabulary (memoised: policies are immutable)."""
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns)) if patterns else None


def _glob(value: str | None, patterns: list[str]) -> bool:
    if not value:
        return False
    compiled = _compiled(tuple(patterns))
    return compiled is not None and compiled.match(value.lower()) is not None


def _expand(doc: Any, pattern: str) -> list[str]:
    """Concrete pointers in `doc` matching the pointer `pattern`, where a '*' token matches any key or index."""
    found = [("", doc)]
    for token in tokens(pattern):
        nxt = []
        for path, node in found:
            if isinstance(node, dict):
                keys = list(node) if token == "*" else ([token] if token in node else [])
                nxt += [(child(path, k), node[k]) for k in keys]
            elif isinstance(node, list):
                if token == "*":
                    nxt += [(f"{path}/{i}", v) for i, v in enumerate(node)]
                elif token.isdigit() and int(token) < len(node):
                    nxt.append((f"{path}/{token}", node[int(token)]))
        found = nxt
    return [p for p, _ in found]


def _walk_keys(doc: Any, keys: set[str], skip: set[str]) -> list[str]:
    """Pointers of every member named in `keys` (not descending into it). Iterative: any nesting depth is safe."""
    out: list[str] = []
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            items = [(child(path, k), str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            items = [(f"{path}/{i}", None, v) for i, v in enumerate(node)]
        else:
            continue
        for here, key, value in items:
            if here in skip:
                continue
            if key is not None and key in keys:
                out.append(here)
            else:
                stack.append((here, value))
    return out


def _metadata(doc: dict[str, Any] | None) -> dict[str, Any]:
    meta = (doc or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _str_map(value: Any) -> dict[str, str]:
    return (
        {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float, bool))}
        if isinstance(value, dict)
        else {}
    )


class _Resource:
    """The change's identity, taking what the document says when the caller left it out."""

    def __init__(self, facts: ChangeFacts) -> None:
        doc = facts.document if isinstance(facts.document, dict) else None
        meta = _metadata(doc)
        self.doc = doc
        self.kind = facts.kind or str((doc or {}).get("kind") or "")
        self.api_version = str((doc or {}).get("apiVersion") or "")
        self.name = facts.name or str(meta.get("name") or "")
        self.namespace = facts.namespace or (str(meta["namespace"]) if meta.get("namespace") else None)
        self.labels = {**_str_map(meta.get("labels")), **facts.labels}
        self.annotations = _str_map(meta.get("annotations"))
        owners = meta.get("ownerReferences")
        self.owner_kinds = (
            [str(o.get("kind")) for o in owners if isinstance(o, dict)] if isinstance(owners, list) else []
        )

    def matches(self, m: Matcher) -> str | None:
        """Why this resource matches `m`, or None."""
        group = self.api_version.split("/")[0] if "/" in self.api_version else ""
        if _glob(self.kind, m.kinds):
            return f"kind {self.kind}"
        if _glob(group, m.api_groups):
            return f"API group {group}"
        if _glob(self.namespace, m.namespaces):
            return f"namespace {self.namespace}"
        if _glob(self.name, m.names):
            return f"name {self.name}"
        for key, patterns in m.label_values.items():
            if _glob(self.labels.get(key), patterns):
                return f"label {key}={self.labels[key]}"
        if self.doc is not None:
            for marker in m.document_markers:
                if _expand(self.doc, marker):
                    return f"document field {marker}"
        return None


def _observed_paths(res: _Resource, rules: ObservedStateRules) -> list[str]:
    doc = res.doc
    if doc is None:
        return []
    out = [pointer([s]) for s in rules.sections if s in doc]
    for owned in rules.owned_fields:
        owned_now = (
            any(_expand(doc, p) for p in owned.when_paths)
            or any(k in owned.when_owner_kinds for k in res.owner_kinds)
            or any(a in res.annotations for a in owned.when_annotations)
        )
        if owned_now:
            out += [p for pattern in owned.paths for p in _expand(doc, pattern)]
    out += _walk_keys(doc, set(rules.keys), set(out) | {"/metadata"})
    return sorted(set(out))


def _secret_paths(facts: ChangeFacts, res: _Resource, rules: SecretRules) -> tuple[bool, list[str]]:
    paths = list(facts.secret_paths)
    by_kind = _glob(res.kind, rules.kinds)
    if by_kind and res.doc is not None:
        for key in rules.value_keys:
            section = res.doc.get(key)
            if isinstance(section, dict):
                paths += [pointer([key, k]) for k in section]
    return bool(paths) or by_kind, sorted(set(paths))


def classify_context(facts: ChangeFacts, policy: BypassPolicy) -> ContextClass:
    """Production is tested first, on the context, the space and the namespace: it wins every tie."""
    rules = policy.contexts
    meta_ns = _metadata(facts.document).get("namespace")
    if any(
        _glob(v, rules.production)
        for v in (facts.context, facts.space, facts.namespace, meta_ns if isinstance(meta_ns, str) else None)
    ):
        return "production"
    for cls in ("local", "sandbox", "ci", "preview", "staging"):
        if _glob(facts.context, getattr(rules, cls)):
            return cls  # type: ignore[return-value]
    return "other"


# ---- the engine ----------------------------------------------------------------------


class _Finding:
    """Everything the document and the facts say, before the tree is walked."""

    def __init__(self, facts: ChangeFacts, policy: BypassPolicy) -> None:
        res = _Resource(facts)
        self.res = res
        self.notes: list[str] = []
        self.context_class = classify_context(facts, policy)
        self.production = self.context_class == "production"
        labels = res.labels
        lab = policy.labels
        max_ttl = policy.ephemeral.max_ttl

        self.ttl = facts.ttl
        self.ttl_source = "ttl"
        if self.ttl is None and labels.get(lab.ttl):
            try:
                self.ttl = parse_duration(labels[lab.ttl], f"labels.{lab.ttl}")
                self.ttl_source = f"label {lab.ttl}"
            except InvalidInput:
                self.notes.append(
                    f"The label {lab.ttl}={labels[lab.ttl]!r} is not a duration, so it gives no lifetime."
                )
        self.ttl_over_max = self.ttl is not None and self.ttl > max_ttl
        self.bypass_label = labels.get(lab.bypass, "").lower() == "true"
        claims = [
            f"label {lab.ephemeral}=true" if labels.get(lab.ephemeral, "").lower() == "true" else "",
            "persist=false" if facts.persist is False else "",
            f"label {lab.bypass}=true" if self.bypass_label else "",
            f"kind {res.kind}" if _glob(res.kind, policy.ephemeral.kinds) else "",
            f"a ttl ({self.ttl_source})" if self.ttl is not None else "",
        ]
        self.claims = [c for c in claims if c]
        cleaned_by_context = self.context_class in policy.ephemeral.contexts
        self.ttl_ok = self.ttl is not None and not self.ttl_over_max
        short_lived = facts.persist is not True and not self.ttl_over_max
        self.experiment = facts.is_sandbox_experiment and not self.production and short_lived and self.ttl_ok
        self.ephemeral = short_lived and (self.ttl_ok or cleaned_by_context)
        if self.ttl_over_max and self.claims:
            self.notes.append(
                f"It claims to be ephemeral ({', '.join(self.claims)}), but its ttl {_span(self.ttl)} is over the policy maximum of "
                f"{_span(max_ttl)} (criterion 1: minutes to hours), so it is not ephemeral."
            )
        elif facts.persist is True and self.ttl is not None:
            self.notes.append(f"persist=true overrides the ttl {_span(self.ttl)}: it is treated as persistent.")
        elif self.claims and not self.ephemeral and facts.persist is not True:
            self.notes.append(
                f"It claims to be ephemeral ({', '.join(self.claims)}) but nothing cleans it up: give it a ttl of at most "
                f"{_span(max_ttl)}, or run it in a CI or preview context."
            )
        if facts.is_sandbox_experiment and not self.experiment:
            why = (
                "a production context never qualifies as a sandbox"
                if self.production
                else ("persist=true" if facts.persist is True else f"it needs a ttl of at most {_span(max_ttl)}")
            )
            self.notes.append(f"It is marked as a sandbox experiment, but criterion 7 does not hold: {why}.")

        self.observed_paths = _observed_paths(res, policy.observed_state)
        self.observed_kind = _glob(res.kind, policy.observed_state.kinds)
        content = [k for k in (res.doc or {}) if k not in ("apiVersion", "kind", "metadata")]
        self.observed_whole = self.observed_kind or (
            bool(content) and all(pointer([k]) in self.observed_paths for k in content)
        )

        self.has_secrets, self.secret_paths = _secret_paths(facts, res, policy.secrets)

        local_marker = (
            res.doc is not None
            and "apiVersion" not in res.doc
            and any(_expand(res.doc, m) for m in policy.contexts.local_document_markers)
        )
        self.local = not self.production and (self.context_class == "local" or local_marker)
        self.local_why = (
            f"context {facts.context} is local"
            if self.context_class == "local"
            else "the document is a Docker Compose file"
        )
        if self.production and ((facts.context and _glob(facts.context, policy.contexts.local)) or local_marker):
            self.notes.append("A production context never qualifies as local development.")
        self.platform = res.matches(policy.platform)
        self.observability = res.matches(policy.observability)
        self.persistent = not (self.experiment or self.ephemeral or self.observed_whole)
        self.break_glass = (
            self.persistent and not self.local and (bool(facts.incident_id) or not facts.confighub_reachable)
        )

    def matched(self) -> set[int]:
        flags = {
            1: self.ephemeral,
            2: self.local,
            3: self.platform is not None,
            4: self.break_glass,
            5: self.has_secrets,
            6: bool(self.observed_paths) or self.observed_kind,
            7: self.experiment,
            8: self.observability is not None,
        }
        return {n for n, on in flags.items() if on}


def _span(delta: timedelta) -> str:
    """Deadlines and limits in whole hours when they are ('24h', '72h'), as the seed writes them."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else format_duration(delta)


def _ref(policy: BypassPolicy, number: int) -> CriterionRef:
    c = policy.criterion(number)
    return CriterionRef(number=c.number, key=c.key, name=c.name)


def _step(policy: BypassPolicy, key: str, answer: str) -> str:
    return f"{policy.node(key).question} {answer}"


def decide(change: ChangeFacts, policy: BypassPolicy) -> Decision:
    """The seed's decision framework, walked for one change. Pure: same facts, same decision."""
    f = _Finding(change, policy)
    res = f.res
    path: list[str] = []
    reasons: list[str] = list(f.notes)
    primary: int | None = None
    max_ttl = _span(policy.ephemeral.max_ttl)

    # 1. Is this configuration that should persist?
    if f.experiment:
        primary = 7
        path.append(
            _step(policy, "persist", f"No: a cublab sandbox experiment with ttl {_span(f.ttl)} (within {max_ttl})")
        )
    elif f.ephemeral:
        primary = 1
        why = (
            f"ttl {_span(f.ttl)} ({f.ttl_source}) within the {max_ttl} maximum"
            if f.ttl is not None
            else f"a {f.context_class} context cleans it up"
        )
        path.append(_step(policy, "persist", f"No: ephemeral, {why}"))
    elif f.observed_whole:
        primary = 6
        what = (
            f"kind {res.kind} is observed state"
            if f.observed_kind
            else "the document holds only observed state (" + ", ".join(f.observed_paths) + ")"
        )
        path.append(_step(policy, "persist", f"No: {what}, not configuration"))
    else:
        why = "persist=true" if change.persist is True else "nothing says it is short-lived or cleaned up"
        path.append(_step(policy, "persist", f"Yes ({why})"))
    if primary is not None:
        path.append(f"-> {policy.node('persist').if_no}")
    else:
        # 2. Does it contain secrets?
        if f.has_secrets:
            where = ", ".join(f.secret_paths) if f.secret_paths else f"the values of a {res.kind}"
            path.append(
                _step(
                    policy, "secrets", f"Yes ({where}): the values bypass ConfigHub; the rest of the document continues"
                )
            )
        else:
            path.append(_step(policy, "secrets", "No"))
        # 3. Is ConfigHub available?
        if f.local:
            path.append(_step(policy, "available", f"Not needed: {f.local_why} (personal; break-glass does not apply)"))
        elif f.platform is not None:
            primary = 3
            path.append(
                _step(policy, "available", f"No: ConfigHub depends on it (platform infrastructure: {f.platform})")
            )
        elif f.break_glass:
            primary = 4
            why = (
                f"incident {change.incident_id}: the normal workflow is too slow"
                if change.incident_id
                else "ConfigHub is unreachable"
            )
            if change.incident_id and not change.confighub_reachable:
                why += ", and ConfigHub is unreachable"
            path.append(_step(policy, "available", f"No ({why})"))
        else:
            path.append(_step(policy, "available", "Yes"))
        if primary is not None:
            path.append(f"-> {policy.node('available').if_no}")
        else:
            # 4. Would ConfigHub add value?
            if change.adds_value is True:
                opted = [n for n, on in ((2, f.local), (8, f.observability is not None)) if on]
                note = f" (the caller opts in although criterion {opted[0]} would allow a bypass)" if opted else ""
                path.append(_step(policy, "adds_value", f"Yes{note}"))
            elif f.local:
                primary = 2
                path.append(_step(policy, "adds_value", f"No: local development ({f.local_why})"))
            elif f.observability is not None:
                primary = 8
                path.append(_step(policy, "adds_value", f"No: cross-cutting observability ({f.observability})"))
            elif change.adds_value is False:
                path.append(
                    _step(policy, "adds_value", "Yes: 'no value' was claimed, but no criterion backs the claim")
                )
                reasons.append(
                    "adds_value=false alone is not a bypass criterion: name the change's kind, context or lifetime so one of the eight criteria can hold."
                )
            else:
                path.append(_step(policy, "adds_value", "Yes"))
            if primary is not None:
                path.append(f"-> {policy.node('adds_value').if_no}")
            elif f.has_secrets:
                primary = 5
                path.append(f"-> {policy.node('secrets').if_yes}: references in ConfigHub, values in a secrets manager")
            else:
                path.append(f"-> {policy.node('adds_value').if_yes}")

    matched = f.matched()
    if primary is not None:
        matched.add(primary)
    also = [_ref(policy, n) for n in sorted(matched - {primary})]
    return _answer(change, policy, f, primary, also, path, reasons)


def _answer(
    change: ChangeFacts,
    policy: BypassPolicy,
    f: _Finding,
    primary: int | None,
    also: list[CriterionRef],
    path: list[str],
    reasons: list[str],
) -> Decision:
    criterion = policy.criterion(primary) if primary is not None else None
    bg = policy.breakglass
    reconciliation = None
    refused = None
    if criterion is None:
        verdict: Verdict = "use_confighub"
        reasons.insert(
            0, "No bypass criterion holds: the change goes through ConfigHub (authority, history, policy enforcement)."
        )
        if f.bypass_label:
            refused = f'The label {policy.labels.bypass}="true" was refused: no bypass criterion holds for this change, so it goes through ConfigHub.'
            reasons.append(refused)
    else:
        rule = criterion.reconciliation
        verdict = "bypass_then_reconcile" if rule.kind == "required" else "bypass"
        reasons.insert(0, f"Criterion {criterion.number} ({criterion.name}): {criterion.description} {criterion.why}")
        if rule.kind == "required":
            reconciliation = ReconciliationOwed(
                kind=rule.kind,
                text=rule.text,
                capture_within=bg.capture_within,
                review_within=bg.review_within,
                must_declare_incident=not change.incident_id,
                steps=[bg.capture, bg.review],
            )
            reasons.append(
                f"Capture the live state into ConfigHub (tag {bg.tag}) within {_span(bg.capture_within)}, "
                f"and review it within {_span(bg.review_within)}: persist it as a proposal or revert it."
            )
            if not change.incident_id:
                reasons.append(
                    "No incident id was given: declare the incident first, so the capture obligation has an owner and deadlines."
                )
        else:
            reconciliation = ReconciliationOwed(kind=rule.kind, text=rule.text)
    numbers = {a.number for a in also}
    if criterion is not None and criterion.number == 3 and 4 in numbers:
        reasons.append(
            "This is a break-glass change to platform infrastructure: ConfigHub cannot hold its own prerequisites, so record the "
            "emergency change in the bootstrap runbook's change log and review it after the incident instead of capturing it into ConfigHub."
        )
    if criterion is not None and criterion.number == 2 and (change.incident_id or not change.confighub_reachable):
        reasons.append(
            "Break-glass does not apply to a local context: local resources are personal, so there is nothing to capture."
        )
    if criterion is not None and criterion.number in (1, 7) and change.incident_id:
        reasons.append(
            f"The incident {change.incident_id} needs no capture for this change: the resource does not persist."
        )
    if 4 in numbers and criterion is not None and criterion.number != 3:
        reasons.append(f"Criterion 4 also holds, but criterion {criterion.number} comes first in the decision tree.")
    for number, label in ((2, "a local context"), (8, "observability")):
        if number in numbers and criterion is None and change.adds_value is True:
            reasons.append(
                f"Criterion {number} ({label}) would allow a bypass; the caller chose ConfigHub (optional reconciliation means ongoing changes may flow through it)."
            )

    secrets = None
    if f.has_secrets:
        ref_in = (
            "ConfigHub, as a reference at each path"
            if (criterion is None or criterion.number not in (2, 3))
            else (
                "the bootstrap configuration, as a reference (ConfigHub does not manage platform infrastructure)"
                if criterion.number == 3
                else "the local configuration, as a reference"
            )
        )
        secrets = SecretHandling(
            paths=f.secret_paths,
            reference_in=f"{ref_in} ({', '.join(policy.secrets.reference_examples)})",
            value_in=f"a secrets manager ({', '.join(policy.secrets.managers)})",
            references=list(policy.secrets.reference_examples),
            managers=list(policy.secrets.managers),
        )
        where = ", ".join(f.secret_paths) if f.secret_paths else "its values"
        reasons.append(
            f"Criterion 5: the literal secret values at {where} never go in ConfigHub: put a reference there "
            f"({', '.join(policy.secrets.reference_examples)}) and keep the value in a secrets manager ({', '.join(policy.secrets.managers)})."
        )
        if criterion is not None and criterion.number == 4:
            reasons.append("The break-glass capture carries the references, never the values.")
        if criterion is not None and criterion.number in (1, 7):
            reasons.append(
                "Even in an ephemeral environment the secret value stays out of ConfigHub and out of any proposal made from it."
            )
    if f.observed_paths and not (criterion is not None and criterion.number == 6):
        reasons.append(
            "Criterion 6 applies to the observed part only ("
            + ", ".join(f.observed_paths)
            + "): leave it out of what is stored; "
            "desired state belongs in ConfigHub, observed state does not."
        )
    cited = {criterion.number} if criterion is not None else set()
    if f.has_secrets:
        cited.add(5)
    for entry in policy.not_for:
        if cited & set(entry.criteria):
            reasons.append(f"{entry.title}: {entry.statement}")
    return Decision(
        verdict=verdict,
        criterion=_ref(policy, criterion.number) if criterion else None,
        also_matched=also,
        path=path,
        reasons=reasons,
        reconciliation=reconciliation,
        audit_requirement=criterion.audit.requirement if criterion else None,
        secrets=secrets,
        refused_label=refused,
        observed_paths=f.observed_paths,
        context_class=f.context_class,
    )


# ---- sandboxes -----------------------------------------------------------------------


class SandboxEligibility(BaseModel):
    model_config = ConfigDict(frozen=True)
    eligible: bool
    problems: list[str] = Field(description="one sentence per problem, each naming the field and the limit")
    decision: Decision


def sandbox_eligibility(
    policy: BypassPolicy,
    *,
    ttl: timedelta | None,
    context: str = "sandbox",
    secret_paths: list[str] | tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    name: str = "",
    space: str | None = None,
) -> SandboxEligibility:
    """May this sandbox bypass ConfigHub under criterion 7? The use case refuses it when `eligible` is false."""
    facts = ChangeFacts(
        kind="Sandbox",
        name=name,
        space=space,
        context=context,
        labels=labels or {},
        ttl=ttl,
        persist=False,
        secret_paths=list(secret_paths),
        is_sandbox_experiment=True,
    )
    decision = decide(facts, policy)
    limit = _span(policy.ephemeral.max_ttl)
    problems = []
    if decision.context_class == "production":
        where = context if _glob(context, policy.contexts.production) else f"{context} (space {space})"
        problems.append(f"context: {where} is a production context; a sandbox runs beside production, never in it")
    if ttl is None:
        problems.append(f"ttl: a sandbox needs a ttl (at most {limit}) so it is cleaned up")
    elif ttl > policy.ephemeral.max_ttl:
        problems.append(f"ttl: {_span(ttl)} is longer than the policy maximum of {limit}")
    if decision.secrets is not None:
        problems.append(
            f"config: literal secret values at {', '.join(decision.secrets.paths) or 'its values'}; put references there "
            f"({', '.join(policy.secrets.reference_examples)}) and keep the values in a secrets manager"
        )
    if not problems and (decision.criterion is None or decision.criterion.number != 7):
        problems.append(
            "sandbox: criterion 7 (Agent-Local Experimentation) does not hold for it: " + "; ".join(decision.reasons)
        )
    return SandboxEligibility(eligible=not problems, problems=problems, decision=decision)
