"""Proposal lifecycle rules (pure): when a required decision is met, and what a
proposal's state is at a given moment.

States (`domain.states.ProposalState`): pending -> approved -> applied, or
rejected, expired, stale (the base revision moved, or a competing proposal was
applied first); a proposal bound for a remote authority is queued before it is
pending. No amendments: a change is a new proposal. Only humans decide, and the
proposer never counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cublab.domain.risk import DecisionRequirement
from cublab.domain.states import ProposalState

OPEN_STATES: tuple[ProposalState, ...] = (ProposalState.PENDING, ProposalState.APPROVED)
FINAL_STATES: tuple[ProposalState, ...] = (
    ProposalState.APPLIED,
    ProposalState.REJECTED,
    ProposalState.EXPIRED,
    ProposalState.STALE,
)
# a human acted (stale: another applied change won)
DECIDED_STATES: tuple[ProposalState, ...] = (ProposalState.APPLIED, ProposalState.REJECTED, ProposalState.STALE)


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


def requirement_record(decision: DecisionRequirement, *, high_approvals: int) -> dict[str, Any]:
    """What a proposal stores of the decision its risk class requires (see domain/risk.py)."""
    return {
        "kind": decision.kind,
        "approvals_needed": decision.approvals_needed,
        "window_seconds": decision.window.total_seconds() if decision.window else None,
        "as_high_after_seconds": decision.as_high_after.total_seconds() if decision.as_high_after else None,
        "high_approvals": high_approvals,
        "description": decision.describe(),
    }


def effective_state(state: str, expires_at: datetime, now: datetime) -> str:
    """Expiry applies on read: an open proposal past its expiry is expired."""
    if state in OPEN_STATES and expires_at <= now:
        return ProposalState.EXPIRED
    return state


def requirement_status(
    requirement: dict[str, Any], decisions: list[DecisionRecord], *, proposer: str, created_at: datetime, now: datetime
) -> RequirementStatus:
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
        return RequirementStatus(
            False, approvals, acks, f"{missing} more approval(s) by {who} (`cublab proposals approve`)"
        )
    if kind == "acknowledgment":
        as_high = requirement.get("as_high_after_seconds")
        deadline = created_at + timedelta(seconds=float(as_high)) if as_high is not None else None
        timely = {
            d.actor
            for d in counted
            if d.decision in ("approve", "acknowledge") and (deadline is None or d.at < deadline)
        }
        if timely:
            return RequirementStatus(True, approvals, acks, "nothing: a human acknowledged it")
        if deadline is not None and now >= deadline:
            # Unacknowledged too long: the seed treats it as HIGH from then on.
            needed = int(requirement.get("high_approvals") or 1)
            if len(approvals) >= needed:
                return RequirementStatus(
                    True, approvals, acks, "nothing: approved as HIGH after the acknowledgment window"
                )
            return RequirementStatus(
                False,
                approvals,
                acks,
                f"{needed - len(approvals)} explicit approval(s): unacknowledged for "
                f"{deadline - created_at}, it is now treated as HIGH risk (`cublab proposals approve`)",
            )
        return RequirementStatus(False, approvals, acks, "one human acknowledgment (`cublab proposals ack`)")
    if kind == "objection_window":
        window = timedelta(seconds=float(requirement.get("window_seconds") or 0))
        opens = created_at + window
        if acks or now >= opens:
            return RequirementStatus(
                True,
                approvals,
                acks,
                "nothing: the objection window has passed" if not acks else "nothing: a human acknowledged it",
            )
        left = opens - now
        return RequirementStatus(
            False,
            approvals,
            acks,
            f"the objection window to pass ({int(left.total_seconds() // 60)}m{int(left.total_seconds() % 60):02d}s left; "
            f"a human may object with `cublab proposals reject`), or a human acknowledgment",
        )
    raise ValueError(f"unknown requirement kind {kind!r}")
