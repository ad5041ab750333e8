"""Shared building blocks for the policy models."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import InvalidInput


class Strict(BaseModel):
    """Policy sections refuse unknown keys: a typo must fail start-up, not weaken a rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(str(value), "duration")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


Duration = Annotated[
    timedelta, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str, when_used="json")
]
"""A duration written as in the policy file ('90m', '2h', '7d'), and shown the same way."""
