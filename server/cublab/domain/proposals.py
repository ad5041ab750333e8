"""Proposal lifecycle rules (pure): when a required decision is met, and what a
proposal's state is at a given moment.

States: pending -> approved -> applied, or rejected, expired, stale (the base
revision moved, or a competing proposal was applied first). No amendments: a
change is a new proposal. Only humans decide, and the proposer never counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

OPEN_STATES = ("pending", "approved")
FINAL_STATES = ("applied", "rejected", "expired", "stale")


@dataclass(frozen=True)
class DecisionRecord:
    actor: str
    decision: str  # approve | acknowledge | reject
    at: datetime


@dataclass(frozen=True)
class RequirementStatus:
    met: bool
    approvals: list[str]
    acknowledgments: list[str]
    still_required: str


def effective_state(state: str, expires_at: datetime, now: datetime) -> str:
    """Expiry applies on read: an open proposal past its expiry is expired."""
    if state in OPEN_STATES and expires_at <= now:
        return "expired"
    return state


def requirement_status(requirement: dict[str, Any], decisions: list[DecisionRecord], *, proposer: str,
                       created_at: datetime, now: datetime) -> RequirementStatus:
    """Is the decision the risk class requires met? Counts distinct human identities other than the proposer."""
    counted = [d for d in decisions if d.actor.startswith("human:") and d.actor != proposer]
    approvals = sorted({d.actor for d in counted if d.decision == "approve"})
    acks = sorted({d.actor for d in counted if d.decision in ("approve", "acknowledge")})
    kind = requirement["kind"]
    if kind == "approval":
        needed = int(requirement["approvals_needed"])
        missing = needed - len(approvals)
        if missing <= 0:
            return RequirementStatus(True, approvals, acks, "nothing: the required approvals are in")
        who = "a second, different person" if approvals else f"{needed} distinct human approver(s)"
        return RequirementStatus(False, approvals, acks, f"{missing} more approval(s) by {who} (`cublab proposals approve`)")
    if kind == "acknowledgment":
        if acks:
            return RequirementStatus(True, approvals, acks, "nothing: a human acknowledged it")
        return RequirementStatus(False, approvals, acks, "one human acknowledgment (`cublab proposals ack`)")
    if kind == "objection_window":
        window = timedelta(seconds=float(requirement.get("window_seconds") or 0))
        opens = created_at + window
        if acks or now >= opens:
            return RequirementStatus(True, approvals, acks, "nothing: the objection window has passed" if not acks else "nothing: a human acknowledged it")
        left = opens - now
        return RequirementStatus(False, approvals, acks, f"the objection window to pass ({int(left.total_seconds() // 60)}m{int(left.total_seconds() % 60):02d}s left; "
                                 f"a human may object with `cublab proposals reject`), or a human acknowledgment")
    raise ValueError(f"unknown requirement kind {kind!r}")
