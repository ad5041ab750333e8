"""Who did it. Every identity is `agent:<type>-<session>` or `human:<name>`.

The prefix is the whole point: agents propose, humans decide, and a rule that
says "humans only" checks it here rather than trusting anything else.

One spelling per identity: the text is normalised (Unicode NFKC, then
case-folded: `domain.text.fold`) before it is matched, compared or stored, so
`human:Carol`, `HUMAN:carol` and the fullwidth spelling of `human:CAROL` are all
`human:carol`. After folding a name must be ASCII, so a look-alike spelled with
Cyrillic or Greek letters is refused rather than taken for someone else.

The principal is who an identity acts for, the thing that owns and is counted:

- an agent's principal is its identity without the session, the last `-segment`
  (`agent:claude-desktop-session1` -> `agent:claude-desktop`): every session of
  one agent owns the same sandboxes and experiments;
- a human's principal is the (folded) identity itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cublab.domain.errors import Forbidden, InvalidInput
from cublab.domain.text import fold

_AGENT = re.compile(r"^agent:[a-z0-9][a-z0-9._]*(?:-[a-z0-9._]+)+$")
_HUMAN = re.compile(r"^human:(?P<name>[a-z0-9][a-z0-9._@+-]{0,99})$")
_SYSTEM = "system:cublab"


@dataclass(frozen=True)
class Identity:
    kind: Literal["agent", "human", "system"]
    value: str  # folded

    def __str__(self) -> str:
        return self.value

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def is_human(self) -> bool:
        return self.kind == "human"

    @property
    def name(self) -> str:
        """The part after the prefix: `claude-desktop-session1`, `carol`."""
        return self.value.split(":", 1)[1]

    @property
    def principal(self) -> str:
        """Who this identity acts for: an agent without its session, a human as is."""
        return principal_of(self.value)


SYSTEM = Identity("system", _SYSTEM)


def fold_identity(text: str) -> str:
    """The stored spelling of an identity string: stripped, NFKC, case-folded.

    Used on values read back from rows as well, so a row written before identities
    were folded compares equal to its folded spelling.
    """
    return fold((text or "").strip())


def principal_of(identity: str) -> str:
    """The principal of an identity string (folded): `agent:claude-desktop-session1` -> `agent:claude-desktop`."""
    value = fold_identity(identity)
    if value.startswith("agent:") and "-" in value:
        return value.rsplit("-", 1)[0]
    return value


def parse_identity(text: str, field: str = "identity") -> Identity:
    """Parse and fold an identity string, or raise InvalidInput naming `field`."""
    raw = (text or "").strip()
    value = fold_identity(raw)
    if len(value) <= 200 and _AGENT.match(value):
        return Identity("agent", value)
    if _HUMAN.match(value):
        return Identity("human", value)
    raise InvalidInput(
        f"{field}: {raw[:80]!r} is not an identity; use 'agent:<type>-<session>' "
        "(e.g. agent:claude-code-session-abc123) or 'human:<name>' (ASCII letters, digits and ._@+- "
        "after Unicode normalisation; case does not matter)"
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


def proposer_aliases(proposer: str) -> frozenset[str]:
    """The names under which the proposer could pose as a human decider (folded, without prefix).

    The proposer's own name, its principal's name, and (for an agent) its principal
    followed by any session: `agent:claude-desktop-session1` makes `claude-desktop-session1`
    and `claude-desktop` aliases, and `is_proposer` also catches `claude-desktop-<anything>`.
    """
    value = fold_identity(proposer)
    names = {value.split(":", 1)[-1], principal_of(value).split(":", 1)[-1]}
    return frozenset(n for n in names if n)


def is_proposer(who: Identity | str, proposer: str) -> bool:
    """Whether `who` is the proposer (or its principal) under any prefix: it never counts and never decides."""
    value = fold_identity(str(who))
    if not proposer:
        return False
    if value == fold_identity(proposer) or principal_of(value) == principal_of(proposer):
        return True
    name = value.split(":", 1)[-1]
    aliases = proposer_aliases(proposer)
    if name in aliases:
        return True
    proposer_value = fold_identity(proposer)
    if proposer_value.startswith("agent:"):
        # another session of the proposing agent, written as a human: human:claude-desktop-session2
        base = principal_of(proposer_value).split(":", 1)[1]
        return name.startswith(base + "-")
    return False
