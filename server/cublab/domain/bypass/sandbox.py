"""Sandbox eligibility: may a cublab sandbox bypass ConfigHub under criterion 7?

A sandbox is asked the engine's question as a change of its own (kind Sandbox,
persist=false, `is_sandbox_experiment`), and the answer is turned into the
problems a use case reports when it refuses to spawn one: a production context,
a missing or too long ttl, literal secrets in its configuration.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from cublab.domain.bypass.decision import BypassDecision, ChangeFacts
from cublab.domain.bypass.engine import decide, span
from cublab.domain.bypass.policy import BypassPolicy
from cublab.domain.bypass.resource import glob_match


class SandboxEligibility(BaseModel):
    model_config = ConfigDict(frozen=True)
    eligible: bool
    problems: list[str] = Field(description="one sentence per problem, each naming the field and the limit")
    decision: BypassDecision


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
    limit = span(policy.ephemeral.max_ttl)
    problems = []
    if decision.context_class == "production":
        where = context if glob_match(context, policy.contexts.production) else f"{context} (space {space})"
        problems.append(f"context: {where} is a production context; a sandbox runs beside production, never in it")
    if ttl is None:
        problems.append(f"ttl: a sandbox needs a ttl (at most {limit}) so it is cleaned up")
    elif ttl > policy.ephemeral.max_ttl:
        problems.append(f"ttl: {span(ttl)} is longer than the policy maximum of {limit}")
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
