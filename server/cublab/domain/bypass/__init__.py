"""The bypass decision engine: the seed "When to Bypass ConfigHub" as a pure function.

`decide(facts, policy)` answers whether a change may bypass ConfigHub, under which
of the eight criteria, and what it owes afterwards. It reads no clock, no database
and no network, so the same facts always give the same decision and the whole
policy can be tested as a table.

The package is cut along the engine's own parts:

- `policy`: the `bypass:` section of the policy file (`BypassPolicy` and its rules);
- `decision`: the question (`ChangeFacts`, with the `Evidence` cublab checked itself kept
  apart from the caller's claims) and the answer (`BypassDecision` and its parts), and
  `STRICTNESS`, the order of the verdicts a claim may only climb;
- `resource`: reading a resource and its document (globs, pointers, observed state,
  secret values, the context class);
- `engine`: walking the decision tree (`decide`; its docstring gives the precedence);
- `sandbox`: whether a cublab sandbox qualifies under criterion 7.

Every name is re-exported here: import from `cublab.domain.bypass`, not the modules.
"""

from cublab.domain.bypass.decision import (
    STRICTNESS,
    BypassDecision,
    ChangeFacts,
    ContextClass,
    CriterionRef,
    Evidence,
    FactSource,
    IncidentCheck,
    OptionalDuration,
    ReconciliationOwed,
    SandboxCheck,
    SecretHandling,
    Verdict,
    stricter,
    strictness,
)
from cublab.domain.bypass.engine import decide
from cublab.domain.bypass.policy import (
    CRITERION_KEYS,
    CRITERION_RECONCILIATION,
    TREE_KEYS,
    AuditRow,
    BootstrapChain,
    BreakGlassRules,
    BypassPolicy,
    ContextRules,
    Criterion,
    EphemeralRules,
    LabelNames,
    Matcher,
    NotFor,
    ObservedStateRules,
    OwnedField,
    PlatformRules,
    Principle,
    ReconciliationKind,
    ReconciliationRule,
    SecretRules,
    SummaryRow,
    TreeNode,
)
from cublab.domain.bypass.resource import classify_context
from cublab.domain.bypass.sandbox import SandboxEligibility, sandbox_eligibility

__all__ = [
    "CRITERION_KEYS",
    "CRITERION_RECONCILIATION",
    "STRICTNESS",
    "TREE_KEYS",
    "AuditRow",
    "BootstrapChain",
    "BreakGlassRules",
    "BypassDecision",
    "BypassPolicy",
    "ChangeFacts",
    "ContextClass",
    "ContextRules",
    "Criterion",
    "CriterionRef",
    "EphemeralRules",
    "Evidence",
    "FactSource",
    "IncidentCheck",
    "LabelNames",
    "Matcher",
    "NotFor",
    "ObservedStateRules",
    "OptionalDuration",
    "OwnedField",
    "PlatformRules",
    "Principle",
    "ReconciliationKind",
    "ReconciliationOwed",
    "ReconciliationRule",
    "SandboxCheck",
    "SandboxEligibility",
    "SecretHandling",
    "SecretRules",
    "SummaryRow",
    "TreeNode",
    "Verdict",
    "classify_context",
    "decide",
    "sandbox_eligibility",
    "stricter",
    "strictness",
]
