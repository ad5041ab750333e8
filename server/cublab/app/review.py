"""Human decisions on proposals, and humans seeding the embedded authority.

Every method here requires a `human:` identity and refuses anything else, so
no adapter can route an agent to a decision. The MCP server has no tool that
reaches this module; the CLI is its only caller.

One human, one vote: the deciding identity is folded (domain/identity.py), the
proposer is refused under any alias, a reason must hold visible text, and each
decision records what backs it: the OS account of the process making it and,
where the proposal's requirement is signed (the policy's
`promotion.signed_decision_tiers`), the reviewer's SSH key, verified against the
allowed-signers file (app/signing.py). Quorum counts one vote per name, per OS
account and per key (domain/proposals.py).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from cublab.app.common import find
from cublab.app.context import AppContext
from cublab.app.expiry import proposal_lapsed, proposal_state
from cublab.app.guards import refuse_secrets, refuse_secrets_in_text
from cublab.app.outputs import ProposalView
from cublab.app.signing import verify
from cublab.app.views import decision_records, proposal_view
from cublab.authority.embedded import EmbeddedAuthority
from cublab.domain.canonical import content_hash
from cublab.domain.errors import Conflict, Forbidden, InvalidInput
from cublab.domain.identity import Identity, fold_identity, is_proposer
from cublab.domain.proposals import OPEN_STATES, DecisionRecord, requirement_status, requires_signature
from cublab.domain.signatures import decision_message
from cublab.domain.states import ProposalState
from cublab.domain.text import has_visible_text
from cublab.store import audit
from cublab.store.audit_key import AuditKey
from cublab.store.tables import Proposal, ProposalDecision, Revision, Unit


@dataclass(frozen=True)
class ApplyOutcome:
    applied: bool
    proposal: ProposalView
    message: str
    staled: list[str]


def _require_human(who: Identity) -> None:
    if not who.is_human:
        raise Forbidden(f"as: decisions are made by humans; {who} is not a human identity (human:<name>)")


def _require_visible(reason: str, doing: str) -> None:
    if not has_visible_text(reason):
        raise InvalidInput(
            f"reason: {doing} needs a reason with visible text (blank, zero-width and control characters alone are "
            "not a reason a reader can see)"
        )


CLI_VERB = {"approve": "approve", "acknowledge": "ack", "reject": "reject"}


@dataclass(frozen=True)
class Backing:
    """What backs a decision besides the typed name."""

    os_account: str
    key_fingerprint: str | None = None
    signature: str | None = None


class Review:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _authority(self, session: Session) -> EmbeddedAuthority:
        return EmbeddedAuthority(session, self.ctx.clock)

    def _open(
        self, session: Session, proposal_id: str, who: Identity, doing: str, *, expired_capture_ok: bool = False
    ) -> Proposal:
        """Load a proposal that a human may still decide on; persist expiry when it has passed."""
        _require_human(who)
        proposal = find(session, Proposal, "proposal", proposal_id, "proposal_id")
        if is_proposer(who, proposal.proposer):
            raise Forbidden(
                f"as: {who} is the proposer of {proposal_id} ({proposal.proposer}) under another name; "
                "the proposer never decides on its own proposal, whatever prefix or spelling it uses"
            )
        if proposal.authority != "embedded":  # ConfigHub decides there; `cublab proposals sync` brings it back
            raise Conflict(
                f"proposal_id: {proposal_id} lives in the {proposal.authority} authority; it cannot be {doing} here: "
                "decide in ConfigHub (`cublab proposals show` prints the cub commands), then run `cublab proposals sync`"
            )
        state = proposal_state(proposal.state, proposal.expires_at, self.ctx.clock())
        if expired_capture_ok and proposal.kind == "capture" and state == "expired":
            return proposal  # a break-glass capture still owes its review: a human may revert it after expiry
        if state not in OPEN_STATES:
            raise Conflict(
                f"proposal_id: {proposal_id} is {state}{' (' + proposal.state_reason + ')' if proposal.state_reason else ''}; it cannot be {doing}"
            )
        return proposal

    def _decisions(self, session: Session, proposal: Proposal) -> list[DecisionRecord]:
        rows = session.exec(select(ProposalDecision).where(ProposalDecision.proposal_id == proposal.id)).all()
        return decision_records(rows)

    def decision_message(self, proposal_id: str, decision: str, who: Identity, reason: str) -> bytes:
        """The bytes `who` signs for `decision` (approve, acknowledge, reject) on the proposal (`--sign-with`)."""
        _require_human(who)
        with self.ctx.db.read() as session:
            proposal = find(session, Proposal, "proposal", proposal_id, "proposal_id")
            return self._message(proposal, decision, who, reason)

    @staticmethod
    def _message(proposal: Proposal, decision: str, who: Identity, reason: str) -> bytes:
        return decision_message(
            proposal_id=proposal.id,
            decision=decision,
            actor=who.value,
            reason=reason,
            patch_digest=content_hash(proposal.patch),
        )

    def _backing(
        self,
        proposal: Proposal,
        who: Identity,
        decision: str,
        reason: str,
        signature: str | None,
        account: str | None = None,
    ) -> Backing:
        """The account making the decision, and the verified key where one signed (required in signed spaces).

        The account is this process's OS account, unless the adapter authenticated the person some other way
        and says so (`account`: the review console behind a trusted proxy names the proxy's user)."""
        account = account or self.ctx.os_account()
        if not signature:
            if requires_signature(proposal.requirement):
                raise Forbidden(
                    f"sign-with: decisions on {proposal.id} ({proposal.target_space}, a tier the policy marks for signed "
                    f"decisions) must be signed with your SSH key. Run: cublab proposals {CLI_VERB[decision]} "
                    f"{proposal.id} --reason {shlex.quote(reason)} --as {who} --sign-with ~/.ssh/id_ed25519 "
                    f"(register the public key once: cublab reviewers add {who} ~/.ssh/id_ed25519.pub)"
                )
            return Backing(account)
        signed = verify(self._message(proposal, decision, who, reason), signature, who.value, self.ctx.allowed_signers)
        return Backing(account, signed.fingerprint, signature)

    def _record(
        self,
        session: Session,
        proposal: Proposal,
        who: Identity,
        decision: str,
        reason: str,
        role: str,
        backing: Backing,
    ) -> None:
        session.add(
            ProposalDecision(
                proposal_id=proposal.id,
                actor=str(who),
                role=role,
                decision=decision,
                reason=reason,
                os_account=backing.os_account,
                key_fingerprint=backing.key_fingerprint,
                signature=backing.signature,
                created_at=self.ctx.clock(),
            )
        )
        session.flush()
        self.ctx.record(
            session,
            who,
            f"proposal.{decision}",
            "proposal",
            proposal.id,
            explanation=reason,
            related={"experiment_id": proposal.experiment_id},
            details={
                "role": role,
                "risk": proposal.risk_class,
                "os_account": backing.os_account,
                **({"key_fingerprint": backing.key_fingerprint} if backing.key_fingerprint else {}),
            },
        )

    def _refuse_a_second_vote(
        self, session: Session, proposal: Proposal, who: Identity, backing: Backing, counted: tuple[str, ...]
    ) -> None:
        """One person, one vote: the same name, OS account or key may not decide again under another name."""
        for d in self._decisions(session, proposal):
            if d.decision not in counted:
                continue
            actor = fold_identity(d.actor)
            if actor == who.value:
                raise Conflict(
                    f"as: {who} already decided on {proposal.id} ({d.decision}); another decision must come from a "
                    "different person"
                )
            if d.os_account is not None and d.os_account == backing.os_account:
                raise Conflict(
                    f"as: OS account {backing.os_account!r} already decided on {proposal.id} as {actor}; one person "
                    "decides once: a different person decides from their own account"
                )
            if backing.key_fingerprint and d.key_fingerprint == backing.key_fingerprint:
                raise Conflict(
                    f"sign-with: key {backing.key_fingerprint} already signed a decision on {proposal.id} as {actor}; "
                    "a different person signs with their own key"
                )

    def _settle(self, session: Session, proposal: Proposal) -> None:
        status = requirement_status(
            proposal.requirement,
            self._decisions(session, proposal),
            proposer=proposal.proposer,
            created_at=proposal.created_at,
            now=self.ctx.clock(),
        )
        if status.met and proposal.state == "pending" and proposal.requirement["kind"] != "objection_window":
            proposal.state, proposal.decided_at = ProposalState.APPROVED, self.ctx.clock()
            session.add(proposal)
            session.flush()

    def approve(
        self,
        proposal_id: str,
        who: Identity,
        reason: str,
        role: str = "reviewer",
        *,
        signature: str | None = None,
        account: str | None = None,
    ) -> ProposalView:
        _require_visible(reason, "an approval")
        refuse_secrets_in_text(reason=reason)
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "approved")
            backing = self._backing(proposal, who, "approve", reason, signature, account)
            self._refuse_a_second_vote(session, proposal, who, backing, ("approve",))
            self._record(session, proposal, who, "approve", reason, role, backing)
            if proposal.revision_id:
                self._authority(session).approve_revision(proposal.revision_id, who.value)
            self._settle(session, proposal)
            return proposal_view(session, proposal, self.ctx.clock())

    def acknowledge(
        self,
        proposal_id: str,
        who: Identity,
        reason: str,
        role: str = "reviewer",
        *,
        signature: str | None = None,
        account: str | None = None,
    ) -> ProposalView:
        _require_visible(reason, "an acknowledgment")
        refuse_secrets_in_text(reason=reason)
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "acknowledged")
            if proposal.requirement["kind"] == "approval":
                raise Conflict(
                    f"proposal_id: {proposal_id} is {proposal.risk_class} risk and needs explicit approval "
                    "(`cublab proposals approve`); an acknowledgment is not enough"
                )
            backing = self._backing(proposal, who, "acknowledge", reason, signature, account)
            self._refuse_a_second_vote(session, proposal, who, backing, ("approve", "acknowledge"))
            self._record(session, proposal, who, "acknowledge", reason, role, backing)
            self._settle(session, proposal)
            return proposal_view(session, proposal, self.ctx.clock())

    def reject(
        self,
        proposal_id: str,
        who: Identity,
        reason: str,
        role: str = "reviewer",
        *,
        signature: str | None = None,
        account: str | None = None,
    ) -> ProposalView:
        _require_visible(reason, "a rejection (the agent learns from it)")
        refuse_secrets_in_text(reason=reason)
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "rejected", expired_capture_ok=True)
            backing = self._backing(proposal, who, "reject", reason, signature, account)
            self._record(session, proposal, who, "reject", reason, role, backing)
            proposal.state, proposal.state_reason, proposal.decided_at = (
                ProposalState.REJECTED,
                f"rejected by {who}: {reason}",
                self.ctx.clock(),
            )
            session.add(proposal)
            if proposal.revision_id:
                self._authority(session).discard_pending(proposal.revision_id)
            session.flush()
            return proposal_view(session, proposal, self.ctx.clock())

    def apply(self, proposal_id: str, who: Identity, reason: str = "", *, account: str | None = None) -> ApplyOutcome:
        """Make the proposal current configuration, if its required decision is met and its base is still the head."""
        if reason:
            _require_visible(reason, "applying")
        refuse_secrets_in_text(reason=reason)
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            proposal = self._open(session, proposal_id, who, "applied")
            if proposal.authority != "embedded":
                raise Conflict(
                    f"proposal_id: {proposal_id} lives in the {proposal.authority} authority; apply it there"
                )
            status = requirement_status(
                proposal.requirement,
                self._decisions(session, proposal),
                proposer=proposal.proposer,
                created_at=proposal.created_at,
                now=now,
            )
            if not status.met:
                raise Conflict(
                    f"proposal_id: {proposal_id} ({proposal.risk_class} risk) cannot be applied yet; still required: {status.still_required}"
                )
            self._check_audited(session, proposal)
            authority = self._authority(session)
            head = authority.get_head(proposal.target_space, proposal.target_unit)
            moved = (
                (head is not None)
                if proposal.new_unit
                else (head is None or head.head_revision_num != proposal.base_revision_num)
            )
            if moved:
                now_at = (
                    "exists now"
                    if proposal.new_unit
                    else f"is at revision {head.head_revision_num if head else 'gone'}"
                )
                reason_text = (
                    f"the target {proposal.target_space}/{proposal.target_unit} {now_at}, "
                    f"not the base revision {proposal.base_revision_num}; rebase means a new proposal"
                )
                self._make_stale(session, proposal, who, reason_text)
                return ApplyOutcome(
                    False,
                    proposal_view(session, proposal, now),
                    f"{proposal_id} is stale: {reason_text}",
                    [proposal_id],
                )
            assert proposal.revision_id is not None  # the embedded authority holds every proposal as a pending revision
            revision = authority.apply_pending(
                proposal.revision_id,
                by=str(who),
                description=f"apply cublab proposal {proposal.id} ({proposal.risk_class}) approved: {', '.join(status.approvals or status.acknowledgments) or 'objection window passed'}",
            )
            self._record(
                session,
                proposal,
                who,
                "apply",
                reason or "applied",
                "operator",
                Backing(account or self.ctx.os_account()),
            )
            proposal.state, proposal.decided_at = ProposalState.APPLIED, now
            proposal.state_reason = f"applied as revision {revision.revision_num} by {who}"
            session.add(proposal)
            session.flush()
            staled = []
            rivals = session.exec(
                select(Proposal).where(
                    Proposal.target_space == proposal.target_space,
                    Proposal.target_unit == proposal.target_unit,
                    col(Proposal.state).in_(OPEN_STATES),
                    Proposal.id != proposal.id,
                )
            ).all()
            for rival in rivals:
                self._make_stale(
                    session,
                    rival,
                    who,
                    f"competing proposal {proposal.id} was applied first (revision {revision.revision_num})",
                )
                staled.append(rival.id)
            return ApplyOutcome(
                True,
                proposal_view(session, proposal, now),
                f"applied {proposal_id}: {proposal.target_space}/{proposal.target_unit} is now at revision {revision.revision_num}",
                staled,
            )

    def _check_audited(self, session: Session, proposal: Proposal) -> None:
        """Apply acts on the log's word only where the log is authenticated.

        A database writer without the audit key can insert decision rows (and
        correctly chained events for them) or edit the proposal's risk, requirement
        or proposer; none of that carries a MAC the key confirms. Every approval and
        acknowledgment on the proposal must have its authenticated event (same
        actor, decision and proposal), and so must the proposal's creation, which
        names its proposer, target, risk and requirement; and the log's end must
        agree with the witness (audit.check_recent: truncation, wiping, rewriting,
        forged events since the newest checkpoint). Otherwise apply refuses and
        names what is unbacked.
        """
        refuse = f"proposal_id: {proposal.id} cannot be applied"
        hint = (
            "the database was written without the audit key; run `cublab audit verify` (a log from before the key "
            "is authenticated once with `cublab audit seal`)"
        )
        key = self.ctx.audit_key
        if key is None:
            raise Conflict(f"{refuse}: no audit key is loaded, so its approvals cannot be verified")
        decisions = [d for d in self._decisions(session, proposal) if d.decision in ("approve", "acknowledge")]
        conn = session.connection()
        events = audit.authenticated_events(
            conn,
            key,
            object_type="proposal",
            object_id=proposal.id,
            actions=["proposal.create", "proposal.approve", "proposal.acknowledge"],
        )
        backed = {(e["actor"], e["action"]) for e in events}
        for d in decisions:
            if (d.actor, f"proposal.{d.decision}") not in backed:
                raise Conflict(
                    f"{refuse}: the {d.decision} by {d.actor} (recorded {d.at.isoformat(timespec='seconds')}) has no "
                    f"authenticated audit event; {hint}"
                )
        problem = self._origin_problem(conn, key, proposal, events)
        if problem:
            raise Conflict(f"{refuse}: {problem}; {hint}")
        if self.ctx.witness is None:
            raise Conflict(f"{refuse}: no audit witness is configured, so the log's end cannot be checked")
        broken = audit.check_recent(conn, key, self.ctx.witness)
        if broken:
            raise Conflict(f"{refuse}: the audit log does not verify: {'; '.join(str(p) for p in broken[:3])}; {hint}")

    def _origin_problem(
        self, conn: Connection, key: AuditKey, proposal: Proposal, events: list[dict[str, Any]]
    ) -> str | None:
        if proposal.kind == "capture":
            captures = [
                e
                for e in audit.authenticated_events(
                    conn,
                    key,
                    object_type="incident",
                    object_id=proposal.incident_id or "",
                    actions=["breakglass.capture"],
                )
                if (e["details"] or {}).get("proposal_id") == proposal.id
            ]
            if not captures:
                return "its break-glass capture has no authenticated audit event"
            return None
        created = [e for e in events if e["action"] == "proposal.create"]
        if not created:
            return "its creation has no authenticated audit event"
        event, details = created[0], created[0]["details"] or {}
        expected = {
            "proposer": (event["actor"], proposal.proposer),
            "target": (details.get("target"), f"{proposal.target_space}/{proposal.target_unit}"),
            "risk": (details.get("risk"), proposal.risk_class),
            "requirement": (details.get("requirement"), proposal.requirement.get("kind")),
        }
        if "approvals_needed" in details:  # recorded since the audit key
            expected["approvals needed"] = (details["approvals_needed"], proposal.requirement.get("approvals_needed"))
        changed = [f"{name} {now!r} (created as {then!r})" for name, (then, now) in expected.items() if then != now]
        if changed:
            return "its stored " + ", ".join(changed) + " differs from its authenticated creation event"
        return None

    def _make_stale(self, session: Session, proposal: Proposal, who: Identity, reason: str) -> None:
        proposal.state, proposal.state_reason = ProposalState.STALE, reason
        session.add(proposal)
        if proposal.revision_id:
            self._authority(session).discard_pending(proposal.revision_id)
        session.flush()
        self.ctx.record(session, who, "proposal.stale", "proposal", proposal.id, details={"reason": reason})

    def expire_due(self, who: Identity) -> list[str]:
        """Persist the expiry of open proposals past their time (7 days by default)."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            due = session.exec(select(Proposal).where(proposal_lapsed(now))).all()
            for proposal in due:
                proposal.state, proposal.state_reason = (
                    ProposalState.EXPIRED,
                    f"no decision within {self.ctx.policy.policy.promotion.proposal_expiry}",
                )
                session.add(proposal)
                if proposal.revision_id:
                    self._authority(session).discard_pending(proposal.revision_id)
                session.flush()
                self.ctx.record(
                    session,
                    who,
                    "proposal.expire",
                    "proposal",
                    proposal.id,
                    details={"expires_at": proposal.expires_at.isoformat()},
                )
        return [p.id for p in due]

    # ---- the embedded authority, seeded and read by humans ------------------------------

    def import_unit(
        self,
        space: str,
        unit: str,
        data: dict[str, Any],
        who: Identity,
        *,
        tier: str | None = None,
        toolchain_type: str = "AppConfig/JSON",
        description: str = "",
    ) -> dict[str, Any]:
        _require_human(who)
        refuse_secrets("file", data)
        refuse_secrets_in_text(
            space=space, unit=unit, tier=tier, toolchain_type=toolchain_type, description=description
        )  # each is stored
        with self.ctx.db.write() as session:
            authority = self._authority(session)
            authority.ensure_space(space, {self.ctx.policy.policy.promotion.tier_label: tier} if tier else {}, str(who))
            head = authority.get_head(space, unit)
            if head is not None and head.data == data:
                return {
                    "space": space,
                    "unit": unit,
                    "revision": head.head_revision_num,
                    "data_hash": content_hash(data),
                    "unchanged": True,
                }
            revision = authority.commit_revision(
                space,
                unit,
                data,
                by=str(who),
                description=description or f"imported by {who}",
                source="import",
                toolchain_type=toolchain_type,
            )
            self.ctx.record(
                session,
                who,
                "authority.import",
                "unit",
                f"{space}/{unit}",
                details={"revision": revision.revision_num, "data_hash": revision.data_hash, "tier": tier},
            )
            return {
                "space": space,
                "unit": unit,
                "revision": revision.revision_num,
                "data_hash": revision.data_hash,
                "unchanged": False,
            }

    def unit_with_revisions(self, space: str, unit: str) -> tuple[Unit, list[Revision]]:
        """The unit's row and its committed revisions (`Revisions.history` adds who approved and applied each)."""
        with self.ctx.db.read() as session:
            authority = self._authority(session)
            return authority.unit(space, unit), authority.revisions(space, unit)

    def revision_data(self, space: str, unit: str, num: int) -> dict[str, Any]:
        with self.ctx.db.read() as session:
            return json.loads(self._authority(session).revision(space, unit, num).data)
