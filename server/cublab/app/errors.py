"""Readable messages from pydantic validation errors: `field: message` per problem."""

from __future__ import annotations

from pydantic import ValidationError

from cublab.domain.errors import InvalidInput


def invalid_input(exc: ValidationError) -> InvalidInput:
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - 10
    if more > 0:
        parts.append(f"and {more} more problems")
    return InvalidInput("; ".join(parts))
