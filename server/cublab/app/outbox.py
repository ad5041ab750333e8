"""The outbox: proposals are stored before they are exported to a remote authority.

A remote authority (ConfigHub) is not part of cublab's SQL transaction, so a
proposal is first committed as `queued` with its export request (an
`authority_export` row, written by app/proposing.py), and only then delivered. Whatever fails afterwards,
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
patch (against an empty document) and a provisional
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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import col, select

from cublab.app.common import existing
from cublab.app.context import AppContext
from cublab.app.proposing import assess
from cublab.authority.base import ChangeRequest, ProposedChange
from cublab.authority.errors import AuthorityAuthFailed, AuthorityRejected, AuthorityStale, AuthorityUnavailable
from cublab.domain.errors import NotFound
from cublab.domain.identity import SYSTEM, Identity
from cublab.domain.patch import make_patch
from cublab.domain.risk import RiskAssessment
from cublab.domain.states import ExportStatus, ProposalState
from cublab.store.tables import AuthorityExport, Proposal

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # longer than a whole export at the client's timeouts


@dataclass(frozen=True)
class Delivery:
    proposal_id: str
    outcome: str  # delivered | queued | held | stale | expired | skipped
    message: str


def _deliverable(statuses: tuple[str, ...], now: datetime) -> ColumnElement[bool]:
    """Waiting in one of `statuses`, or claimed by a flusher whose lease lapsed."""
    return or_(
        col(AuthorityExport.status).in_(statuses),
        and_(col(AuthorityExport.status) == ExportStatus.DELIVERING, col(AuthorityExport.claimed_until) < now),
    )


class Outbox:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _claim(self, proposal_id: str, token: str, statuses: tuple[str, ...]) -> bool:
        """Move the row to delivering, if it is still deliverable: the one place two flushers race."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            result = session.connection().execute(
                update(AuthorityExport)
                .where(col(AuthorityExport.proposal_id) == proposal_id, _deliverable(statuses, now))
                .values(
                    status=ExportStatus.DELIVERING,
                    claimed_by=token,
                    claimed_until=now + LEASE,
                    attempts=col(AuthorityExport.attempts) + 1,
                    updated_at=now,
                )
            )
            return result.rowcount == 1

    def deliver(
        self, proposal_id: str, actor: Identity = SYSTEM, statuses: tuple[ExportStatus, ...] = (ExportStatus.QUEUED,)
    ) -> Delivery:
        token = secrets.token_hex(8)
        if not self._claim(proposal_id, token, statuses):
            return Delivery(
                proposal_id, "skipped", f"{proposal_id}: not waiting for delivery, or another flusher is delivering it"
            )
        authority = self.ctx.remote
        with self.ctx.db.read() as session:
            proposal = existing(session, Proposal, proposal_id)
            export = existing(session, AuthorityExport, proposal_id)
        if authority is None or authority.name != export.authority:
            return self._finish(
                proposal_id,
                token,
                actor,
                ExportStatus.QUEUED,
                f"{export.authority} is not the configured authority; flush with --authority {export.authority}",
            )
        if proposal.state != ProposalState.QUEUED:  # decided or expired in cublab meanwhile: nothing to export
            return self._finish(
                proposal_id,
                token,
                actor,
                ExportStatus.EXPIRED if proposal.state == ProposalState.EXPIRED else ExportStatus.STALE,
                f"not exported: the proposal is {proposal.state}",
            )
        if proposal.expires_at <= self.ctx.clock():
            return self._finish(
                proposal_id, token, actor, ExportStatus.EXPIRED, "expired in the outbox before it could be delivered"
            )
        request = export.request
        space, unit = proposal.target_space, proposal.target_unit
        try:
            target = authority.get_space(space)
            if target is None:
                raise NotFound(f"target_space: no space {space!r} in {authority.name} any more")
            head = authority.get_head(space, unit)
            if head is None and not proposal.new_unit:
                raise NotFound(f"target_unit: no unit {unit!r} in {space!r} any more")
            if head is not None and proposal.new_unit:
                raise AuthorityStale(f"target_unit: {space}/{unit} exists now; the proposal was for a new unit")
            patch = make_patch(head.data if head else {}, request["data"])
            if not patch:
                raise AuthorityStale(
                    f"the head of {space}/{unit} (revision {head.head_revision_num if head else None}) "
                    "already equals the proposed configuration"
                )
            risk, requirement = assess(
                self.ctx.policy.policy.promotion, patch, space=target, new_unit=proposal.new_unit
            )
            base_num, base_version = (head.head_revision_num, head.version) if head else (None, None)
            description = request["description"].replace(f"({proposal.risk_class} risk)", f"({risk.level} risk)")
            change = ChangeRequest(
                space=space,
                unit=unit,
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
            return self._finish(proposal_id, token, actor, ExportStatus.QUEUED, f"queued: {exc}; the outbox retries it")
        except (AuthorityAuthFailed, AuthorityRejected) as exc:
            return self._finish(
                proposal_id,
                token,
                actor,
                ExportStatus.HELD,
                f"held: {exc}; fix it, then `cublab outbox flush --retry-held`",
            )
        except (AuthorityStale, NotFound) as exc:
            return self._finish(proposal_id, token, actor, ExportStatus.STALE, f"stale at export: {exc}")
        return self._delivered(
            proposal_id, actor, landed, patch, risk, requirement, base_num, base_version, head.data if head else {}
        )

    def _finish(self, proposal_id: str, token: str, actor: Identity, status: ExportStatus, message: str) -> Delivery:
        """Record an attempt that did not deliver: queued/held keep the proposal queued; stale/expired end it."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            export = existing(session, AuthorityExport, proposal_id)
            proposal = existing(session, Proposal, proposal_id)
            if export.claimed_by != token:  # our lease lapsed and another flusher took over: its outcome stands
                return Delivery(proposal_id, "skipped", f"{proposal_id}: another flusher took over the delivery")
            export.status, export.last_error, export.updated_at = status, message, now
            export.claimed_by, export.claimed_until = None, None
            session.add(export)
            if proposal.state == ProposalState.QUEUED:
                proposal.state_reason = message
                if status in (ExportStatus.STALE, ExportStatus.EXPIRED):
                    proposal.state = ProposalState(status.value)
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
        actor: Identity,
        landed: ProposedChange,
        patch: list[dict[str, Any]],
        risk: RiskAssessment,
        requirement: dict[str, Any],
        base_num: int | None,
        base_version: int | None,
        base_data: dict[str, Any],
    ) -> Delivery:
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            export = existing(session, AuthorityExport, proposal_id)
            proposal = existing(session, Proposal, proposal_id)
            export.status, export.last_error, export.claimed_by, export.claimed_until = (
                ExportStatus.DELIVERED,
                None,
                None,
                None,
            )
            # Where a remote authority put it, as far as it says (ConfigHub: the space, the proposed unit).
            export.change_set_id, export.space_id = landed.change_set_id, landed.space_id
            export.unit_space, export.unit_space_id = landed.unit_space, landed.unit_space_id
            export.unit_id, export.unit_slug = landed.unit_id, landed.unit_slug
            export.revision_num = landed.revision_num
            export.delivered_at, export.updated_at = now, now
            export.request = {**export.request, "base_data": base_data}  # diffs need the base; cublab keeps a copy
            session.add(export)
            changed = {}
            if proposal.state == ProposalState.QUEUED:
                if proposal.patch != patch or proposal.risk_class != risk.level:
                    changed = {"patch_ops": len(patch), "risk_before": proposal.risk_class, "risk": risk.level}
                proposal.state, proposal.state_reason = ProposalState.PENDING, None
                proposal.patch, proposal.risk_class, proposal.risk_rationale = patch, risk.level, list(risk.rationale)
                proposal.requirement = requirement
                proposal.base_revision_num, proposal.base_version = base_num, base_version
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
        return Delivery(
            proposal_id,
            "delivered",
            f"{proposal_id}: exported as change set {export.change_set_slug} ({landed.change_set_id}), "
            f"proposed data in {export.unit_space}/{export.unit_slug} ({export.mode} mode), base revision {base_num}",
        )

    def flush(self, actor: Identity = SYSTEM, retry_held: bool = False, limit: int = 100) -> list[Delivery]:
        """Deliver every queued proposal (and held ones when an operator says the cause is fixed)."""
        statuses = (ExportStatus.QUEUED, ExportStatus.HELD) if retry_held else (ExportStatus.QUEUED,)
        with self.ctx.db.read() as session:
            ids = session.exec(
                select(AuthorityExport.proposal_id)
                .where(_deliverable(statuses, self.ctx.clock()))
                .order_by(col(AuthorityExport.created_at))
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
                .where(
                    col(AuthorityExport.status).in_((ExportStatus.QUEUED, ExportStatus.HELD, ExportStatus.DELIVERING))
                )
                .order_by(col(AuthorityExport.created_at))
            ).all()
            # Columns come back from the database as plain strings; the status is read back as its enum.
            return [{**r.model_dump(exclude={"request", "status"}), "status": ExportStatus(r.status)} for r in rows]
