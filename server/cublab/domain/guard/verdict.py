"""The guard's answer: allow, deny or ask, for each program a command runs and for the whole.

The bypass engine answers "may this change skip the authority, under which criterion?";
the guard turns that into what an agent's tool call needs: run it (`allow`), don't and do
this instead (`deny`, with the governed path spelled out), or let a human confirm (`ask`).
The mapping is one table, here, so it is tested as one:

| engine answer | guard |
|---|---|
| bypass under criterion 1, 2, 3, 6, 7 or 8 | allow, naming the criterion |
| criterion 5 for a secret's own value (a `Secret`, a secrets manager) | allow: the value belongs outside ConfigHub |
| criterion 5 for configuration that carries a literal secret | deny: a reference in the configuration, the value in a secrets manager, then the governed path |
| bypass_then_reconcile under a declared, open incident (criterion 4) | ask: a human confirms each emergency command; the capture is owed |
| must_declare_incident (break-glass without a declared, open incident) | deny: declare the incident first with `breakglass_declare` |
| use_confighub | deny: log it as a variant and call `variant_promote` |

and, without the engine: read-only and local commands are allowed (nothing changes), a
direct write to ConfigHub (`cub unit update`) is denied (agents reach the authority only
through `variant_promote`), approving or applying is denied (humans only), and a command the
guard cannot read, or whose target it cannot resolve, is denied (never allowed by default).
A command with several programs gets the strictest answer: deny > ask > allow.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cublab.domain.bypass import BypassDecision, BypassPolicy, CriterionRef, ReconciliationOwed
from cublab.domain.bypass.engine import span
from cublab.domain.guard.actions import Action, Effect

GuardVerdict = Literal["allow", "deny", "ask"]
RANK: dict[GuardVerdict, int] = {"allow": 0, "ask": 1, "deny": 2}
EXIT_CODES: dict[GuardVerdict, int] = {"allow": 0, "deny": 1, "ask": 2}
"""`cublab guard`'s exit status per verdict; 3 is a fault (retry may help), as everywhere in the CLI."""

SECRET_KINDS = {"Secret"}

VARIANT_PATH = (
    "Log it as a variant: in a live sandbox (sandbox_spawn), experiment_create, then variant_log with this "
    "configuration, result_log, and variant_promote for the winner; a human approves and applies the proposal."
)
HUMAN_PATH = (
    "Agents never approve or apply: propose with variant_promote, and a human decides "
    "(cublab proposals approve / apply, or ConfigHub's own approval)."
)
UNKNOWN_PATH = (
    "Run the tool directly (kubectl, helm, cub, terraform, aws) with its target named (--context, --namespace, "
    "the resource), so the guard can judge it; or log the change as a variant and call variant_promote."
)


def declare_path(policy: BypassPolicy) -> str:
    return (
        "Declare an incident first with breakglass_declare (the incident id, the reason, the affected units), then run "
        "it again: a human confirms each emergency command, and the live state is captured within "
        f"{span(policy.breakglass.capture_within)} (breakglass_capture)."
    )


def secret_path() -> str:
    return (
        "Put a reference in the configuration (vault://…, a secretRef) and the value in a secrets manager, then "
        + VARIANT_PATH[0].lower()
        + VARIANT_PATH[1:]
    )


class GuardTarget(BaseModel):
    """One thing a command changes or reads, and the answer for it."""

    model_config = ConfigDict(frozen=True)
    tool: str = Field(description="The program: kubectl, helm, cub, terraform, aws, or another.")
    action: str = Field(description="What it does, e.g. 'apply', 'upgrade', 'unit update'.")
    effect: Effect = Field(description="read, local, write, authority_write, human_only, unknown or outside.")
    context: str | None = None
    context_source: str | None = Field(default=None, description="Where the context came from, or why it is unknown.")
    namespace: str | None = None
    space: str | None = None
    unit: str | None = None
    kind: str | None = None
    name: str | None = None
    file: str | None = Field(default=None, description="The file (or '-' for stdin) the resource came from.")
    verdict: GuardVerdict
    criterion: CriterionRef | None = None
    engine_verdict: str | None = Field(default=None, description="The bypass engine's verdict, where it was asked.")
    reason: str
    governed_path: str | None = None


class GuardDecision(BaseModel):
    """The guard's answer for a whole command: the strictest of its targets'."""

    model_config = ConfigDict(frozen=True)
    verdict: GuardVerdict = Field(description="allow: run it; deny: don't (see governed_path); ask: a human confirms.")
    reason: str
    criterion: CriterionRef | None = Field(default=None, description="The bypass criterion an allow or ask rests on.")
    governed_path: str | None = Field(default=None, description="What to do instead, when denied.")
    targets: list[GuardTarget]
    reasons: list[str] = Field(default_factory=list, description="The engine's reasons for the deciding target.")
    reconciliation: ReconciliationOwed | None = Field(
        default=None,
        description="What an allow or ask still owes under its criterion: a capture (4), the bootstrap runbook (3), "
        "a reference (5), a proposal for the winning variant (7), optionally ConfigHub (8).",
    )
    must_declare_incident: bool = False
    agent: str = Field(description="The identity the guard ran as (the agent about to run the command).")
    command: str = Field(description="The command as recorded: literal secrets redacted, or withheld.")
    policy_version: str
    decision_id: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def judge_action(action: Action) -> GuardTarget:
    """The answer for a program the engine is not asked about (everything but `write`)."""
    base = {
        "tool": action.tool,
        "action": action.verb,
        "effect": action.effect,
        "context": action.context,
        "context_source": action.context_source,
        "namespace": action.namespace,
        "space": action.space,
        "unit": action.unit,
    }
    if action.effect in ("read", "local", "outside"):
        lead = {"read": "read-only", "local": "local only", "outside": "not judged"}[action.effect]
        return GuardTarget(verdict="allow", reason=f"{lead}: {action.why}", **base)
    if action.effect == "human_only":
        return GuardTarget(
            verdict="deny", reason=f"humans only: {action.why}; an agent never does", governed_path=HUMAN_PATH, **base
        )
    if action.effect == "authority_write":
        return GuardTarget(
            verdict="deny",
            reason=f"`cub {action.verb}` writes the authority directly: agents reach it only through a proposal",
            governed_path=VARIANT_PATH,
            **base,
        )
    return GuardTarget(
        verdict="deny",
        reason=f"unknown: {action.why}; a command the guard cannot read is denied, never allowed by default",
        governed_path=UNKNOWN_PATH,
        **base,
    )


def judge_decision(
    decision: BypassDecision, policy: BypassPolicy, *, kind: str, describe: GuardTarget | None = None, **base: object
) -> GuardTarget:
    """The guard's answer for one change the engine decided (the table in this module's docstring)."""
    c = decision.criterion
    number = c.number if c is not None else None
    name, context = base.get("name"), base.get("context")
    what = " ".join(str(p) for p in (kind or "the change", name) if p) + (f" in context {context}" if context else "")
    if decision.context_class != "other" and context:
        what += f" ({decision.context_class})"
    verdict: GuardVerdict
    path: str | None = None
    if decision.must_declare_incident:
        verdict, path = "deny", declare_path(policy)
        reason = f"break-glass for {what} needs a declared, open incident first"
    elif decision.verdict == "bypass_then_reconcile":
        capture = span(policy.breakglass.capture_within)
        verdict = "ask"
        reason = (
            f"criterion {number} ({c.name if c else ''}): break-glass under a declared incident; a human confirms, and "
            f"the live state is captured within {capture}"
        )
    elif decision.verdict == "bypass" and number == 5:
        if kind in SECRET_KINDS:
            verdict, reason = (
                "allow",
                "criterion 5 (Secrets and Credentials): a secret's value belongs outside ConfigHub",
            )
        else:
            verdict, path = "deny", secret_path()
            reason = f"{what} carries a literal secret: the configuration goes through ConfigHub with a reference"
    elif decision.verdict == "bypass" and c is not None:
        verdict, reason = (
            "allow",
            f"criterion {c.number} ({c.name}) holds: {decision.path[-2] if len(decision.path) > 1 else c.name}",
        )
    else:
        verdict, path = "deny", VARIANT_PATH
        reason = f"no bypass criterion holds for {what}: it goes through ConfigHub"
    return GuardTarget(
        verdict=verdict,
        criterion=c if verdict != "deny" else None,
        engine_verdict=decision.verdict,
        reason=reason,
        governed_path=path,
        kind=kind or None,
        **base,
    )


def strictest(targets: list[GuardTarget]) -> int:
    """The index of the target that decides the whole: the strictest, and the first among equals (allows
    prefer one that names a criterion, so the answer says what it rests on)."""
    best = 0
    for i, t in enumerate(targets):
        b = targets[best]
        if RANK[t.verdict] > RANK[b.verdict] or (
            RANK[t.verdict] == RANK[b.verdict] and b.criterion is None and t.criterion is not None
        ):
            best = i
    return best
