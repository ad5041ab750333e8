"""Who did it. Every identity is `agent:<type>-<session>` or `human:<name>`.

The prefix is the whole point: agents propose, humans decide, and a rule that
says "humans only" checks it here rather than trusting anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cublab.domain.errors import Forbidden, InvalidInput

_AGENT = re.compile(r"^agent:[a-z0-9][a-z0-9._]*(?:-[A-Za-z0-9._]+)+$")
_HUMAN = re.compile(r"^human:(?P<name>[A-Za-z0-9][A-Za-z0-9._@+-]{0,99})$")
_SYSTEM = "system:cublab"


@dataclass(frozen=True)
class Identity:
    kind: Literal["agent", "human", "system"]
    value: str

    def __str__(self) -> str:
        return self.value

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def is_human(self) -> bool:
        return self.kind == "human"


SYSTEM = Identity("system", _SYSTEM)


def parse_identity(text: str, field: str = "identity") -> Identity:
    """Parse an identity string, or raise InvalidInput naming `field`."""
    text = (text or "").strip()
    if len(text) <= 200 and _AGENT.match(text):
        return Identity("agent", text)
    if _HUMAN.match(text):
        return Identity("human", text)
    raise InvalidInput(
        f"{field}: {text[:80]!r} is not an identity; use 'agent:<type>-<session>' "
        "(e.g. agent:claude-code-session-abc123) or 'human:<name>'"
    )


def agent_identity(text: str, field: str = "agent") -> Identity:
    """The identity an MCP server acts as: it must be an agent, never a human."""
    identity = parse_identity(text, field)
    if not identity.is_agent:
        raise Forbidden(
            f"{field}: the MCP server acts for agents and must run as 'agent:<type>-<session>', "
            f"not {identity.value!r}; human decisions are made with the cublab CLI"
        )
    return identity


def human_identity(text: str, field: str = "as") -> Identity:
    """The identity of a human decision: an agent identity is refused."""
    identity = parse_identity(text, field)
    if not identity.is_human:
        raise Forbidden(f"{field}: decisions are made by humans; {identity.value!r} is not 'human:<name>'")
    return identity
