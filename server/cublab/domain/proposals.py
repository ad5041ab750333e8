"""Proposal lifecycle rules (pure): when a required decision is met, and what a
proposal's state is at a given moment.

States (`domain.states.ProposalState`): pending -> approved -> applied, or
rejected, expired, stale (the base revision moved, or a competing proposal was
applied first); a proposal bound for a remote authority is queued before it is
pending. No amendments: a change is a new proposal. Only humans decide, and the
proposer never counts.

One human, one vote. A decision counts toward a requirement only when it is a
human's, is not the proposer's under any alias (`identity.is_proposer`), and is
backed by something a new person brings: counted decisions have pairwise
distinct folded identities, distinct OS accounts (the account that ran the CLI)
and, where the requirement is signed, distinct SSH key fingerprints. A decision
in a signed requirement without a verified key counts for nothing. Decisions are
taken in order, so a second name typed from an account or with a key already
counted is shown as not counted, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cublab.domain.identity import fold_identity, is_proposer
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


COUNTED_DECISIONS = ("approve", "acknowledge")


@dataclass(frozen=True)
class DecisionRecord:
    actor: str
    decision: str  # approve | acknowledge | reject | apply
    at: datetime
    os_account: str | None = None  # the OS account that ran the CLI; None on rows from before it was recorded
    key_fingerprint: str | None = None  # the verified SSH key that signed it, where one did


@dataclass(frozen=True)
class RequirementStatus:
    met: bool
    approvals: list[str]
    acknowledgments: list[str]
    still_required: str
    not_counted: list[str] = field(default_factory=list)  # "human:x approve: why it does not count"


def _distinct(
    decisions: list[DecisionRecord], proposer: str, *, signed: bool, why: dict[tuple[str, str], str]
) -> list[str]:
    """The folded humans whose decisions count, one per person, account and key (see the module doc)."""
    humans: set[str] = set()
    accounts: set[str] = set()
    keys: set[str] = set()
    counted: list[str] = []
    for d in sorted(decisions, key=lambda d: d.at):
        actor = fold_identity(d.actor)
        reason = None
        if not actor.startswith("human:"):
            reason = "not a human identity"
        elif is_proposer(actor, proposer):
            reason = f"an alias of the proposer {fold_identity(proposer)}"
        elif actor in humans:
            continue  # the same person again: already counted
        elif d.os_account is not None and d.os_account in accounts:
            reason = f"made from OS account {d.os_account!r}, which already counted for someone else"
        elif signed and not d.key_fingerprint:
            reason = "not signed with a registered SSH key, which this space requires"
        elif d.key_fingerprint and d.key_fingerprint in keys:
            reason = f"signed with key {d.key_fingerprint}, which already counted for someone else"
        if reason is not None:
            why.setdefault((actor, d.decision), f"{actor} {d.decision}: {reason}")
            continue
        humans.add(actor)
        if d.os_account is not None:
            accounts.add(d.os_account)
        if d.key_fingerprint:
            keys.add(d.key_fingerprint)
        counted.append(actor)
    return sorted(counted)


def requirement_record(decision: DecisionRequirement, *, high_approvals: int, signed: bool = False) -> dict[str, Any]:
    """What a proposal stores of the decision its risk class requires (see domain/risk.py).

    `signed`: the target space's tier is one the policy marks (`promotion.signed_decision_tiers`),
    so every decision on it must be signed with the reviewer's registered SSH key.
    """
    return {
        "signed": signed,
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


def requires_signature(requirement: dict[str, Any]) -> bool:
    """Whether decisions on a proposal with this stored requirement must be signed."""
    return bool(requirement.get("signed"))


def requirement_status(
    requirement: dict[str, Any],
    decisions: list[DecisionRecord],
    *,
    proposer: str,
    created_at: datetime,
    now: datetime,
    signed: bool | None = None,
) -> RequirementStatus:
    """Is the decision the risk class requires met? Counts one vote per person (see the module doc).

    `signed` overrides the requirement's stored flag (a caller may require signatures for
    proposals recorded before the flag existed).
    """
    signed = requires_signature(requirement) if signed is None else signed
    why: dict[tuple[str, str], str] = {}
    approvals = _distinct([d for d in decisions if d.decision == "approve"], proposer, signed=signed, why=why)
    acks = _distinct([d for d in decisions if d.decision in COUNTED_DECISIONS], proposer, signed=signed, why=why)
    not_counted = sorted(why.values())
    how = (
        "`cublab proposals approve ... --sign-with <your SSH key>`, with a key registered by `cublab reviewers add`"
        if signed
        else "`cublab proposals approve`"
    )

    def status(met: bool, still_required: str) -> RequirementStatus:
        return RequirementStatus(met, approvals, acks, still_required, not_counted)

    kind = requirement["kind"]
    if kind == "approval":
        needed = int(requirement["approvals_needed"])
        missing = needed - len(approvals)
        if missing <= 0:
            return status(True, "nothing: the required approvals are in")
        who = (
            "a different person (another name, OS account" + (" and SSH key)" if signed else ")")
            if approvals
            else f"{needed} distinct human approver(s)"
        )
        return status(False, f"{missing} more approval(s) by {who} ({how})")
    if kind == "acknowledgment":
        as_high = requirement.get("as_high_after_seconds")
        deadline = created_at + timedelta(seconds=float(as_high)) if as_high is not None else None
        timely = _distinct(
            [d for d in decisions if d.decision in COUNTED_DECISIONS and (deadline is None or d.at < deadline)],
            proposer,
            signed=signed,
            why={},
        )
        if timely:
            return status(True, "nothing: a human acknowledged it")
        if deadline is not None and now >= deadline:
            # Unacknowledged too long: the seed treats it as HIGH from then on.
            needed = int(requirement.get("high_approvals") or 1)
            if len(approvals) >= needed:
                return status(True, "nothing: approved as HIGH after the acknowledgment window")
            return status(
                False,
                f"{needed - len(approvals)} explicit approval(s): unacknowledged for "
                f"{deadline - created_at}, it is now treated as HIGH risk ({how})",
            )
        return status(False, f"one human acknowledgment ({how.replace('approve', 'ack')})")
    if kind == "objection_window":
        window = timedelta(seconds=float(requirement.get("window_seconds") or 0))
        opens = created_at + window
        if acks or now >= opens:
            return status(
                True, "nothing: the objection window has passed" if not acks else "nothing: a human acknowledged it"
            )
        left = opens - now
        return status(
            False,
            f"the objection window to pass ({int(left.total_seconds() // 60)}m{int(left.total_seconds() % 60):02d}s left; "
            f"a human may object with `cublab proposals reject`), or a human acknowledgment",
        )
    raise ValueError(f"unknown requirement kind {kind!r}")
