"""The `Authority` protocol: what the use cases need from a configuration authority.

Three things: read a space, read a unit's head, and propose a change set. The
embedded authority implements them in cublab's own database (inside the
caller's transaction); a ConfigHub backend implements the same calls over
ConfigHub's REST API. Approving and applying are deliberately absent: they are
human acts, performed in the authority itself (`cub unit approve/apply`, or the
embedded authority's CLI commands).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SpaceInfo:
    space_id: str
    slug: str
    labels: dict[str, str]


@dataclass(frozen=True)
class UnitHead:
    unit_id: str
    space_id: str
    slug: str
    toolchain_type: str
    data: dict[str, Any]
    head_revision_num: int
    live_revision_num: int
    version: int
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeRequest:
    """One proposal as the authority sees it: a change set holding one pending revision."""

    space: str
    unit: str
    new_unit: bool
    toolchain_type: str
    data: dict[str, Any]
    base_revision_num: int | None
    base_version: int | None
    change_set_slug: str
    description: str
    labels: dict[str, str]
    annotations: dict[str, str]
    user_id: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProposedChange:
    """Where a proposal landed in the authority.

    Every authority names the change set; the embedded one also the pending
    revision. A remote authority keeps the proposed data in a unit of its own
    (ConfigHub's shadow unit, or the target itself in place), and says where: the
    outbox records those fields so `proposals sync` can read the unit back. They
    are None when the authority has nothing to say.
    """

    change_set_id: str
    revision_id: str | None
    space_id: str | None = None  # the target space's id in the authority
    unit_space: str | None = None  # the space holding the proposed data (slug)
    unit_space_id: str | None = None
    unit_id: str | None = None  # the unit holding the proposed data
    unit_slug: str | None = None
    revision_num: int | None = None  # that unit's head revision once the data is written


class Authority(Protocol):
    name: str
    remote: bool  # False for the embedded authority, which works inside cublab's own transactions

    def reachable(self) -> bool: ...

    def get_space(self, slug: str) -> SpaceInfo | None: ...

    def get_head(self, space: str, unit: str) -> UnitHead | None: ...

    def propose(self, change: ChangeRequest) -> ProposedChange: ...


@dataclass(frozen=True)
class Observation:
    """What a remote authority says about a proposal's target now, for `proposals sync`."""

    target_exists: bool
    head_revision_num: int
    live_revision_num: int
    proposed_revision_num: int | None  # the newest target revision in the proposal's change set
    approved_by: tuple[str, ...]
    later: tuple[tuple[int, str, str], ...]  # (num, user, description) of target revisions after the proposed one
    change_set_state: str | None


class RemoteAuthority(Authority, Protocol):
    """An authority outside cublab's database (ConfigHub): reached outside transactions, through the outbox.

    Use cases depend on this protocol, never on the ConfigHub module itself.
    """

    mode: str

    def preflight(self, space: str) -> None:
        """Refuse, before anything is stored, a proposal that could never be exported as configured."""
        ...

    def observe(self, space: str, unit: str, change_set_id: str) -> Observation: ...

    def close(self) -> None: ...

    def review_commands(
        self,
        proposal_id: str,
        space: str,
        unit: str,
        *,
        change_set_id: str | None,
        change_set_slug: str | None,
        mode: str | None,
        unit_space: str | None,
        unit_slug: str | None,
    ) -> list[str]:
        """What a reviewer runs in this authority to read, approve and apply, or reject, one proposal.

        The keywords are where the export landed, as recorded; None before it was delivered.
        """
        ...
