"""Human reviewers as the decision rules see them: a name, an OS account of their own and,
where the policy wants decisions signed (production), an SSH key registered as an allowed signer.

Keys are throwaway ed25519 keys made with `ssh-keygen -t ed25519 -N ""`. The OS account is
the runtime's `ctx.os_account`, set per decision, as if each reviewer ran the CLI from their
own login."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cublab.app.signing import sign
from cublab.domain.identity import Identity, human_identity

VERBS = {"approve": "approve", "acknowledge": "acknowledge", "reject": "reject"}


def make_key(directory: Path, name: str) -> Path:
    """A new ed25519 key pair without a passphrase; the private key's path (`.pub` beside it)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True, capture_output=True
    )
    return key


@dataclass
class Reviewer:
    identity: Identity
    key: Path
    account: str

    def __str__(self) -> str:
        return self.identity.value


class Panel:
    """Reviewers of one runtime: `panel.add("alice")`, then `panel.approve(proposal_id, alice, "ok")`."""

    def __init__(self, runtime: Any, keys: Path) -> None:
        self.runtime = runtime
        self.keys = keys

    def add(self, name: str, *, register: bool = True) -> Reviewer:
        identity = human_identity(f"human:{name}")
        reviewer = Reviewer(identity, make_key(self.keys, name), f"{name}(uid test)@testhost")
        if register:
            self.runtime.reviewers.add(identity, reviewer.key.with_suffix(".pub").read_text(), identity)
        return reviewer

    def decide(
        self,
        decision: str,
        proposal_id: str,
        who: Reviewer,
        reason: str,
        *,
        signed: bool = True,
        account: str | None = None,
        key: Path | None = None,
    ) -> Any:
        """`decision` (approve, acknowledge, reject) as `who`, from their account, signed with their key."""
        self.runtime.ctx.os_account = lambda: account or who.account
        signature = None
        if signed:
            message = self.runtime.review.decision_message(proposal_id, decision, who.identity, reason)
            signature = sign(message, key or who.key)
        return getattr(self.runtime.review, VERBS[decision])(proposal_id, who.identity, reason, signature=signature)

    def approve(self, proposal_id: str, who: Reviewer, reason: str = "ok", **kw: Any) -> Any:
        return self.decide("approve", proposal_id, who, reason, **kw)

    def acknowledge(self, proposal_id: str, who: Reviewer, reason: str = "seen", **kw: Any) -> Any:
        return self.decide("acknowledge", proposal_id, who, reason, **kw)

    def reject(self, proposal_id: str, who: Reviewer, reason: str = "no", **kw: Any) -> Any:
        return self.decide("reject", proposal_id, who, reason, **kw)
