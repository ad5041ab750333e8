"""The lifecycle states of cublab's objects, one enum per kind of object.

They are stored and published as plain strings (database columns, tool output,
audit events), and each enum is a `StrEnum`, so a member *is* its string:
`ProposalState.PENDING == "pending"`, it is written as "pending", and a value read
back from the database compares equal to the member. Naming the states here
gives every rule one spelling to compare against instead of string literals.

Some states are derived on read rather than stored (an active sandbox past its
expiry reads as expired; an open obligation past its deadline reads as overdue):
the enums list every state a caller can see, and each docstring says which are
only derived.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ChangeSetState",
    "ExportStatus",
    "ObligationStatus",
    "ProposalState",
    "RevisionState",
    "SandboxStatus",
]


class SandboxStatus(StrEnum):
    """A sandbox's life: active until destroyed, or until its ttl runs out.

    An active sandbox whose `expires_at` has passed reads as expired before the
    sweeper stores it so; expired and destroyed sandboxes refuse every change.
    """

    ACTIVE = "active"
    DESTROYED = "destroyed"
    EXPIRED = "expired"


class ProposalState(StrEnum):
    """A proposal's life, from the agent's promotion to a human's decision.

    - queued: stored in cublab and waiting in the outbox for a remote authority
      (ConfigHub); it becomes pending once delivered, or stale or expired if it
      never is;
    - pending: in the authority, waiting for the decision its risk class requires;
    - approved: the required decision is met, not yet applied;
    - applied: the authority's head (and live revision) now hold it;
    - rejected: a human refused it (or restored the previous revision);
    - expired: nobody decided before its expiry (an open proposal past its expiry
      reads as expired before it is stored so);
    - stale: its base revision moved, or a competing change was applied first.

    pending and approved are open (`domain.proposals.OPEN_STATES`); the last four
    are final.
    """

    QUEUED = "queued"
    PENDING = "pending"
    APPROVED = "approved"
    APPLIED = "applied"
    REJECTED = "rejected"
    EXPIRED = "expired"
    STALE = "stale"


class ExportStatus(StrEnum):
    """A proposal's export to a remote authority (its outbox row).

    - queued: waiting for delivery (a flush, or the next retry);
    - delivering: claimed by one flusher until its lease ends;
    - delivered: the change set and the proposed data are in the authority;
    - held: the authority refused it (401/403 or another 4xx); an operator must
      act before it is retried;
    - stale, expired: never delivered, and never will be (the proposal went
      stale or expired first).
    """

    QUEUED = "queued"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    HELD = "held"
    STALE = "stale"
    EXPIRED = "expired"


class ObligationStatus(StrEnum):
    """What a break-glass bypass owes (a capture per unit, a review per incident).

    open until met; an open obligation past its deadline reads as overdue, which
    is derived on read and never stored.
    """

    OPEN = "open"
    OVERDUE = "overdue"
    MET = "met"


class ChangeSetState(StrEnum):
    """A change set in the embedded authority: open while any of its revisions is
    pending, then applied (one was committed) or abandoned (all were discarded)."""

    OPEN = "open"
    APPLIED = "applied"
    ABANDONED = "abandoned"


class RevisionState(StrEnum):
    """A revision in the embedded authority: pending in a change set until a human
    applies it (committed: it has a number and is the head) or it is discarded."""

    COMMITTED = "committed"
    PENDING = "pending"
    DISCARDED = "discarded"
