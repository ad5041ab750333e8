"""What to say when a target is not under governance yet.

An agent cannot bring a space or unit under governance: a human does, with a command the agent
can name. Every refusal for a target the authority does not hold says which command, so the agent
can ask for it instead of guessing.
"""

from __future__ import annotations

from cublab.domain.errors import NotFound


def governing_command(authority: str, space: str, unit: str | None) -> str:
    """The human command that brings `space` (and `unit`) under the authority's governance."""
    shown = unit or "<unit>"
    if authority == "embedded":
        return f"cublab authority import <file> --space {space} --unit {shown} --tier <production|staging|sandbox>"
    return f"cub space create {space}, then cub unit create --space {space} {shown} <file>"


def not_governed_space(field: str, authority: str, space: str, unit: str | None = None) -> NotFound:
    return NotFound(
        f"{field}: no space {space!r} in the {authority} authority: it is not under governance yet. "
        f"Agents cannot add it; a human brings it under governance with `{governing_command(authority, space, unit)}`. "
        "Ask one to, or target a space that is governed."
    )


def not_governed_unit(authority: str, space: str, unit: str) -> NotFound:
    return NotFound(
        f"target_unit: no unit {unit!r} in space {space!r}: it is not under governance yet. Pass new_unit=true to "
        f"propose it as a new unit, or ask a human to import it: `{governing_command(authority, space, unit)}`."
    )
