"""The policy as typed data.

`policies/default.yaml` is the seed policy written down; an operator may point
cublab at their own file. Validation happens here, at start-up, so a typo in a
key fails loudly with its path instead of silently weakening a rule.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cublab.domain.durations import parse_duration
from cublab.domain.errors import InvalidInput


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(str(value), "duration")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


class SandboxPolicy(_Strict):
    """Sandbox lifetimes (seed criterion 1 and 7: ephemeral by construction)."""

    default_ttl: timedelta = Field(description="ttl given to a sandbox that names none")
    max_ttl: timedelta = Field(description="no sandbox lives longer than this without renewal")

    _parse = field_validator("default_ttl", "max_ttl", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @model_validator(mode="after")
    def _default_within_max(self) -> SandboxPolicy:
        if self.default_ttl > self.max_ttl:
            raise ValueError("sandbox.default_ttl must not exceed sandbox.max_ttl")
        return self


class ComparePolicy(_Strict):
    """How sure a comparison must be before it names a winner."""

    min_samples: int = Field(ge=2, le=10_000, description="points per variant below which there is not enough data")
    confidence: float = Field(gt=0.5, lt=1.0, description="confidence level of intervals and of the winner test")


class Policy(_Strict):
    version: str = Field(description="the policy's own version label, for humans")
    sandbox: SandboxPolicy
    compare: ComparePolicy
