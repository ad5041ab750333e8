"""The outbox: proposals are stored before they are exported to a remote authority.

A remote authority (ConfigHub) is not part of cublab's SQL transaction, so a
proposal is first committed as `queued` with its export request (an
`authority_export` row), and only then delivered. Whatever fails afterwards,
the proposal is not lost: a refused connection, a timeout or a 5xx leave it
queued with the reason, and `cublab outbox flush` (or the server, every
`outbox_interval` seconds) delivers it later. Nothing is delivered twice: a
flusher must first move the row from queued to delivering (one conditional
UPDATE, so of two flushers exactly one wins; a crashed flusher's claim lapses
after `LEASE`), and the export itself is idempotent (it finds by slug and label
what an earlier attempt created), so even a retry after a lost response lands
on the same ChangeSet and unit.

What can be known while ConfigHub is unreachable: the proposed document, the
proposer, the rationale and evidence, and the local preconditions (winner,
secrets, results). What cannot: the target's head, so neither the base
revision, nor the JSON Patch, nor the risk class that depends on the changed
fields and the space's tier. A queued proposal therefore carries a provisional
patch (against the last head read, or an empty document) and a provisional
risk; delivery reads the head and recomputes both, and the agent is told so.
401/403 and other refusals are `held`: retrying the same token blindly would
fail the same way, so only an operator's `cublab outbox flush --retry-held`
tries again. A 409 (stale Version) or a target that moved away makes the
proposal stale.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from cublab.app.context import AppContext
from cublab.authority.base import ChangeRequest
from cublab.authority.errors import AuthorityAuthFailed, AuthorityRejected, AuthorityStale, AuthorityUnavailable
from cublab.domain.errors import NotFound
from cublab.domain.identity import SYSTEM, Identity
from cublab.domain.patch import make_patch
from cublab.domain.proposals import requirement_record
from cublab.domain.risk import classify, required_decision
from cublab.store.tables import AuthorityExport, Proposal

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # longer than a whole export at the client's timeouts
QUEUED = "queued"


@dataclass(frozen=True)
class Delivery:
    proposal_id: str
    outcome: str  # delivered | queued | held | stale | expired | skipped
    message: str


def read_target(remote: Any, space: str, unit: str) -> tuple[Any, Any, str | None, bool]:
    """Read a remote target outside any transaction: (space, head, why unreadable, held).

    A missing space is the caller's to fix and raises at once; an unreachable
    authority does not stop the change, which is queued (held, on an auth failure,
    until an operator fixes the cause).
    """
    try:
        remote.preflight(space)
        target = remote.get_space(space)
        if target is None:
            raise NotFound(f"target_space: no space {space!r} in the {remote.name} authority")
        return target, remote.get_head(space, unit), None, False
    except AuthorityUnavailable as exc:
        return None, None, str(exc), False
    except AuthorityAuthFailed as exc:
        return None, None, str(exc), True


def resolve_target(
    authority: Any, seen: tuple | None, space: str, unit: str, field: str
) -> tuple[Any, Any, str | None, bool]:
    """(space, head, why unreadable, held): what `read_target` saw for a remote authority, or
    read now from the embedded one inside the caller's transaction."""
    if seen is not None:
        return seen
    target = authority.get_space(space)
    if target is None:
        raise NotFound(f"{field}: no space {space!r} in the {authority.name} authority")
    return target, authority.get_head(space, unit), None, False


def assess(ctx: AppContext, patch: list[dict[str, Any]], *, space: Any, new_unit: bool) -> tuple[Any, dict[str, Any]]:
    """Risk and the decision it requires, from the patch and the target space's tier.

    `space` is the authority's SpaceInfo, or None when the authority could not be asked:
    then the tier is unknown and production is assumed (an upper bound, recomputed at delivery).
    """
    rules = ctx.policy.policy.promotion
    production = space is None or rules.is_production(space.labels)
    risk = classify(patch, production=production, new_unit=new_unit, policy=rules)
    decision = required_decision(risk.level, production=production, policy=rules)
    return risk, requirement_record(decision, high_approvals=rules.high_approvals)


class Outbox:
    def __init__(self, ctx: AppContext, ledger: Any) -> None:
        self.ctx = ctx
        self.ledger = ledger

    # ---- storing ----------------------------------------------------------------------------
    def submit(
        self, session: Session, authority: Any, proposal: Proposal, change: ChangeRequest, reason: str | None = None
    ) -> Any:
        """Embedded: propose in the caller's transaction. Remote: queue it; the caller delivers after commit."""
        if not self.ctx.is_remote(authority):
            return authority.propose(change)
        self.enqueue(session, proposal, change, authority, reason)
        return None

    def enqueue(
        self,
        session: Session,
        proposal: Proposal,
        change: ChangeRequest,
        authority: Any,
        reason: str | None = None,
        status: str = QUEUED,
    ) -> None:
        now = self.ctx.clock()
        proposal.state = QUEUED
        proposal.state_reason = reason or f"stored in cublab; being exported to {authority.name}"
        session.add(proposal)
        session.flush()  # the export row's foreign key needs the proposal first
        session.add(
            AuthorityExport(
                proposal_id=proposal.id,
                authority=authority.name,
                mode=getattr(authority, "mode", "shadow"),
                status=status,
                request={
                    "data": change.data,
                    "toolchain_type": change.toolchain_type,
                    "description": change.description,
                    "labels": change.labels,
                    "annotations": change.annotations,
                    "tags": list(change.tags),
                    "user_id": change.user_id,
                },
                attempts=0,
                last_error=reason if status != QUEUED else None,
                change_set_slug=change.change_set_slug,
                observed={},
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()

    # ---- delivering ------------------------------------------------------------------------------
    def _claim(self, proposal_id: str, token: str, statuses: tuple[str, ...]) -> bool:
        """Move the row to delivering, if it is still deliverable: the one place two flushers race."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            result = session.execute(
                update(AuthorityExport)
                .where(
                    AuthorityExport.proposal_id == proposal_id,
                    or_(
                        AuthorityExport.status.in_(statuses),
                        and_(AuthorityExport.status == "delivering", AuthorityExport.claimed_until < now),
                    ),
                )
                .values(
                    status="delivering",
                    claimed_by=token,
                    claimed_until=now + LEASE,
                    attempts=AuthorityExport.attempts + 1,
                    updated_at=now,
                )
            )
            return result.rowcount == 1

    def deliver(self, proposal_id: str, actor: Identity = SYSTEM, statuses: tuple[str, ...] = (QUEUED,)) -> Delivery:
        token = secrets.token_hex(8)
        if not self._claim(proposal_id, token, statuses):
            return Delivery(
                proposal_id, "skipped", f"{proposal_id}: not waiting for delivery, or another flusher is delivering it"
            )
        authority = self.ctx.remote
        with self.ctx.db.read() as session:
            proposal = session.get(Proposal, proposal_id)
            export = session.get(AuthorityExport, proposal_id)
        if authority is None or authority.name != export.authority:
            return self._finish(
                proposal_id,
                token,
                actor,
                "queued",
                f"{export.authority} is not the configured authority; flush with --authority {export.authority}",
            )
        if proposal.state != QUEUED:  # decided or expired in cublab meanwhile: nothing to export
            return self._finish(
                proposal_id,
                token,
                actor,
                "expired" if proposal.state == "expired" else "stale",
                f"not exported: the proposal is {proposal.state}",
            )
        if proposal.expires_at <= self.ctx.clock():
            return self._finish(
                proposal_id, token, actor, "expired", "expired in the outbox before it could be delivered"
            )
        request = export.request
        try:
            target = authority.get_space(proposal.target_space)
            if target is None:
                raise NotFound(f"target_space: no space {proposal.target_space!r} in {authority.name} any more")
            head = authority.get_head(proposal.target_space, proposal.target_unit)
            if head is None and not proposal.new_unit:
                raise NotFound(f"target_unit: no unit {proposal.target_unit!r} in {proposal.target_space!r} any more")
            if head is not None and proposal.new_unit:
                raise AuthorityStale(
                    f"target_unit: {proposal.target_space}/{proposal.target_unit} exists now; the proposal was for a new unit"
                )
            patch = make_patch(head.data if head else {}, request["data"])
            if not patch:
                raise AuthorityStale(
                    f"the head of {proposal.target_space}/{proposal.target_unit} (revision {head.head_revision_num}) "
                    "already equals the proposed configuration"
                )
            risk, requirement = assess(self.ctx, patch, space=target, new_unit=proposal.new_unit)
            base_num, base_version = (head.head_revision_num, head.version) if head else (None, None)
            description = request["description"].replace(f"({proposal.risk_class} risk)", f"({risk.level} risk)")
            change = ChangeRequest(
                space=proposal.target_space,
                unit=proposal.target_unit,
                new_unit=proposal.new_unit,
                toolchain_type=head.toolchain_type if head else request["toolchain_type"],
                data=request["data"],
                base_revision_num=base_num,
                base_version=base_version,
                change_set_slug=export.change_set_slug,
                description=description,
                labels={**request["labels"], "risk-class": risk.level},
                annotations={
                    **request["annotations"],
                    "base-revision": str(base_num or ""),
                    "base-version": str(base_version or ""),
                },
                user_id=request["user_id"],
                tags=tuple(request["tags"]),
            )
            landed = authority.propose(change)
        except AuthorityUnavailable as exc:
            return self._finish(proposal_id, token, actor, "queued", f"queued: {exc}; the outbox retries it")
        except (AuthorityAuthFailed, AuthorityRejected) as exc:
            return self._finish(
                proposal_id, token, actor, "held", f"held: {exc}; fix it, then `cublab outbox flush --retry-held`"
            )
        except (AuthorityStale, NotFound) as exc:
            return self._finish(proposal_id, token, actor, "stale", f"stale at export: {exc}")
        return self._delivered(
            proposal_id,
            token,
            actor,
            landed,
            patch,
            risk,
            requirement,
            base_num,
            base_version,
            head.data if head else {},
        )

    def _finish(self, proposal_id: str, token: str, actor: Identity, status: str, message: str) -> Delivery:
        """Record an attempt that did not deliver: queued/held keep the proposal queued; stale/expired end it."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            export = session.get(AuthorityExport, proposal_id)
            proposal = session.get(Proposal, proposal_id)
            if export.claimed_by != token:  # our lease lapsed and another flusher took over: its outcome stands
                return Delivery(proposal_id, "skipped", f"{proposal_id}: another flusher took over the delivery")
            export.status, export.last_error, export.claimed_by, export.claimed_until, export.updated_at = (
                status,
                message,
                None,
                None,
                now,
            )
            session.add(export)
            if proposal.state == QUEUED:
                proposal.state_reason = message
                if status in ("stale", "expired"):
                    proposal.state = status
                    proposal.decided_at = now
                session.add(proposal)
            session.flush()
            self.ctx.record(
                session,
                actor,
                f"proposal.export_{status}",
                "proposal",
                proposal_id,
                details={"authority": export.authority, "attempt": export.attempts, "reason": message[:500]},
            )
        log.warning("cublab outbox: %s %s", proposal_id, message)
        return Delivery(proposal_id, status, f"{proposal_id}: {message}")

    def _delivered(
        self,
        proposal_id: str,
        token: str,
        actor: Identity,
        landed: Any,
        patch: list,
        risk: Any,
        requirement: dict,
        base_num: int | None,
        base_version: int | None,
        base_data: dict,
    ) -> Delivery:
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            export = session.get(AuthorityExport, proposal_id)
            proposal = session.get(Proposal, proposal_id)
            export.status, export.last_error, export.claimed_by, export.claimed_until = "delivered", None, None, None
            export.change_set_id, export.space_id = landed.change_set_id, getattr(landed, "space_id", None)
            export.unit_space, export.unit_space_id = (
                getattr(landed, "unit_space", None),
                getattr(landed, "unit_space_id", None),
            )
            export.unit_id, export.unit_slug = getattr(landed, "unit_id", None), getattr(landed, "unit_slug", None)
            export.revision_num, export.delivered_at, export.updated_at = (
                getattr(landed, "revision_num", None),
                now,
                now,
            )
            export.request = {
                **export.request,
                "base_data": base_data,
            }  # diffs need the base; ConfigHub holds it, cublab keeps a copy
            session.add(export)
            changed = {}
            if proposal.state == QUEUED:
                if proposal.patch != patch or proposal.risk_class != risk.level:
                    changed = {"patch_ops": len(patch), "risk_before": proposal.risk_class, "risk": risk.level}
                proposal.state, proposal.state_reason = "pending", None
                proposal.patch, proposal.risk_class, proposal.risk_rationale = patch, risk.level, list(risk.rationale)
                proposal.requirement, proposal.base_revision_num, proposal.base_version = (
                    requirement,
                    base_num,
                    base_version,
                )
            proposal.change_set_id, proposal.revision_id = landed.change_set_id, landed.revision_id
            session.add(proposal)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "proposal.export",
                "proposal",
                proposal_id,
                details={
                    "authority": export.authority,
                    "mode": export.mode,
                    "change_set_id": landed.change_set_id,
                    "unit": f"{export.unit_space}/{export.unit_slug}",
                    "attempt": export.attempts,
                    "base_revision": base_num,
                    **changed,
                },
            )
        where = f"{export.unit_space}/{export.unit_slug}"
        return Delivery(
            proposal_id,
            "delivered",
            f"{proposal_id}: exported as change set {export.change_set_slug} "
            f"({landed.change_set_id}), proposed data in {where} ({export.mode} mode), base revision {base_num}",
        )

    def flush(self, actor: Identity = SYSTEM, retry_held: bool = False, limit: int = 100) -> list[Delivery]:
        """Deliver every queued proposal (and held ones when an operator says the cause is fixed)."""
        statuses = (QUEUED, "held") if retry_held else (QUEUED,)
        now = self.ctx.clock()
        with self.ctx.db.read() as session:
            ids = session.exec(
                select(AuthorityExport.proposal_id)
                .where(
                    or_(
                        AuthorityExport.status.in_(statuses),
                        and_(AuthorityExport.status == "delivering", AuthorityExport.claimed_until < now),
                    )
                )
                .order_by(AuthorityExport.created_at)
                .limit(limit)
            ).all()
        results = []
        for proposal_id in ids:
            delivery = self.deliver(proposal_id, actor, statuses)
            results.append(delivery)
            if delivery.outcome == "queued":  # still unreachable: the rest would only time out too
                break
        return results

    def pending(self) -> list[dict[str, Any]]:
        """The outbox as it stands: every export not delivered yet."""
        with self.ctx.db.read() as session:
            rows = session.exec(
                select(AuthorityExport)
                .where(AuthorityExport.status.in_((QUEUED, "held", "delivering")))
                .order_by(AuthorityExport.created_at)
            ).all()
            return [r.model_dump(exclude={"request"}) for r in rows]
