"""The policy as typed data.

`policies/default.yaml` is the seed policy written down; an operator may point
cublab at their own file. Validation happens here, at start-up, so a typo in a
key fails loudly with its path instead of silently weakening a rule.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from cublab.domain.base import Duration, Strict
from cublab.domain.bypass import BypassPolicy
from cublab.domain.risk import PromotionPolicy


class SandboxPolicy(Strict):
    """Sandbox lifetimes (seed criteria 1 and 7: ephemeral by construction)."""

    default_ttl: Duration = Field(description="ttl given to a sandbox that names none")
    max_ttl: Duration = Field(description="no sandbox lives longer than this without renewal")

    @model_validator(mode="after")
    def _default_within_max(self) -> SandboxPolicy:
        if self.default_ttl > self.max_ttl:
            raise ValueError("sandbox.default_ttl must not exceed sandbox.max_ttl")
        return self


class ComparePolicy(Strict):
    """How sure a comparison must be before it names a winner."""

    min_samples: int = Field(ge=2, le=10_000, description="points per variant below which there is not enough data")
    confidence: float = Field(gt=0.5, lt=1.0, description="confidence level of intervals and of the winner test")


QUOTA_NAMES = ("live_sandboxes", "variants_per_experiment", "points_per_hour", "open_proposals")
"""The quotas counted per agent principal; a human may raise one for one agent (`cublab quotas set`)."""


class QuotaPolicy(Strict):
    """What one agent (its principal: every session of it together) may hold or do, so one runaway agent cannot
    fill the shared ledger; and how fast one caller may call the HTTP server."""

    live_sandboxes: int = Field(default=20, ge=1, le=1_000_000, description="active, unexpired sandboxes at once")
    variants_per_experiment: int = Field(default=200, ge=1, le=1_000_000, description="variants in one experiment")
    points_per_hour: int = Field(
        default=1_000_000, ge=1, le=1_000_000_000, description="measurement points logged in any 60 minutes"
    )
    open_proposals: int = Field(default=20, ge=1, le=1_000_000, description="proposals pending or approved at once")
    requests_per_minute: int = Field(
        default=1200, ge=0, le=1_000_000, description="HTTP requests one caller may make a minute (0: no limit)"
    )
    request_burst: int = Field(default=200, ge=1, le=1_000_000, description="HTTP requests one caller may make at once")


class Policy(Strict):
    version: str = Field(description="the policy's own version label, for humans")
    sandbox: SandboxPolicy
    compare: ComparePolicy
    promotion: PromotionPolicy
    bypass: BypassPolicy
    quotas: QuotaPolicy = Field(default_factory=QuotaPolicy)

    @model_validator(mode="after")
    def _sandboxes_are_ephemeral(self) -> Policy:
        # A sandbox bypasses the authority because it is ephemeral (criteria 1 and 7): it may not outlive that.
        if self.sandbox.max_ttl > self.bypass.ephemeral.max_ttl:
            raise ValueError(
                "sandbox.max_ttl must not exceed bypass.ephemeral.max_ttl: a sandbox that outlives "
                "'ephemeral' no longer qualifies to bypass the authority"
            )
        return self
