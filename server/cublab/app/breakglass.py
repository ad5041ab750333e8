"""Break-glass reconciliation (seed criterion 4): the bypass that owes a debt.

Declaring an incident opens obligations with deadlines from the policy: every
affected unit's live state must be captured into the authority within 1 hour,
and the captures reviewed within 24 hours. A capture is a pending revision
tagged `break-glass` in a change set for the incident, held by a proposal of
kind `capture`: the human review persists it (approve and apply, the normal
proposal decision) or reverts it (reject: the authority keeps its head and the
live system is put back). Overdue obligations are reported loudly, on every
listing, until they are met.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as select_core
from sqlmodel import Session, col, select

from cublab.app.context import AppContext
from cublab.app.expiry import obligation_past_due
from cublab.app.governance import not_governed_space
from cublab.app.guards import parse_config, refuse_secrets, refuse_secrets_in_text
from cublab.app.inputs import CaptureBreakGlass, DeclareBreakGlass, ListObligations
from cublab.app.outbox import Outbox
from cublab.app.outputs import CaptureResult, IncidentView, ObligationList, ObligationView
from cublab.app.proposing import Draft, Proposing
from cublab.app.views import incident_view, late_by, obligation_view, proposal_view
from cublab.domain.bypass import BreakGlassRules
from cublab.domain.errors import Conflict, InvalidInput, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.patch import make_patch
from cublab.domain.pointers import pointer
from cublab.domain.states import ObligationStatus, ProposalState
from cublab.store.audit import iso
from cublab.store.tables import Incident, Obligation, Proposal, table_of

_obligations = table_of(Obligation)
# Built once: asked on every bypass_check, where constructing the statement would cost more than running it.
_ANY_PAST_DUE = select_core(_obligations.c.id).where(obligation_past_due(bindparam("now"))).limit(1)  # type: ignore[arg-type]

BREAK_GLASS_TAGS = ("break-glass", "drift-capture", "reconciliation")


class BreakGlass:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.proposing = Proposing(ctx)

    @property
    def _rules(self) -> BreakGlassRules:
        return self.ctx.policy.policy.bypass.breakglass

    def _views(self, session: Session, obligations: Sequence[Obligation]) -> list[ObligationView]:
        now = self.ctx.clock()
        return [obligation_view(session, ob, now) for ob in obligations]

    def overdue_warnings(self, session: Session | None = None) -> list[str]:
        """One loud line per overdue obligation; empty when none is."""
        if session is None:
            with self.ctx.db.read() as s:
                return self.overdue_warnings(s)
        now = self.ctx.clock()
        # Asked on every bypass_check: a one-row Core probe first, and the obligations loaded only when one is due.
        if session.connection().execute(_ANY_PAST_DUE, {"now": now}).first() is None:
            return []
        due = session.exec(select(Obligation).where(obligation_past_due(now)).order_by(col(Obligation.due_at))).all()
        lines = []
        for view in self._views(session, due):
            if view.status == "overdue":
                lines.append(
                    f"OVERDUE {view.kind} for incident {view.incident_id}{' (' + view.unit + ')' if view.unit else ''}: "
                    f"due {iso(view.due_at)}, late by {late_by(now - view.due_at)}"
                )
        return lines

    def _incident_view(self, session: Session, incident: Incident, declared_again: bool = False) -> IncidentView:
        return incident_view(
            session, incident, self.ctx.clock(), self.overdue_warnings(session), declared_again=declared_again
        )

    # ---- use cases -------------------------------------------------------------------

    def declare(self, cmd: DeclareBreakGlass, actor: Identity) -> IncidentView:
        refuse_secrets_in_text(
            {pointer(("units", n)): unit for n, unit in enumerate(cmd.units)},
            incident_id=cmd.incident_id,
            reason=cmd.reason,
            explanation=cmd.explanation,
        )
        units = list(dict.fromkeys(cmd.units))
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            existing = session.get(Incident, cmd.incident_id)
            if existing is not None:
                if sorted(existing.units) != sorted(units):
                    raise Conflict(
                        f"incident_id: {cmd.incident_id} was declared with units {existing.units}; declare a new incident for other units"
                    )
                return self._incident_view(session, existing, declared_again=True)
            # A remote authority may be down (that is a break-glass reason): never ask it here.
            if self.ctx.remote is None:
                authority = self.ctx.authority(session)
                unknown = sorted({u.split("/", 1)[0] for u in units if authority.get_space(u.split("/", 1)[0]) is None})
                if unknown:  # an obligation no capture could ever meet would be overdue forever
                    raise not_governed_space("units", authority.name, ", ".join(unknown))
            incident = Incident(
                id=cmd.incident_id,
                reason=cmd.reason,
                units=units,
                declared_by=str(actor),
                policy_digest=self.ctx.policy.digest,
                declared_at=now,
            )
            session.add(incident)
            session.flush()
            owed: list[tuple[str, str | None, timedelta]] = [("capture", u, self._rules.capture_within) for u in units]
            owed.append(("review", None, self._rules.review_within))  # one review of all the captures
            for kind, unit, within in owed:
                session.add(
                    Obligation(
                        id=new_id("obligation"),
                        incident_id=incident.id,
                        kind=kind,
                        unit=unit,
                        status=ObligationStatus.OPEN,
                        due_at=now + within,
                        evidence={},
                        created_by=str(actor),
                        created_at=now,
                    )
                )
            session.flush()
            self.ctx.record(
                session,
                actor,
                "breakglass.declare",
                "incident",
                incident.id,
                explanation=cmd.explanation,
                details={
                    "units": units,
                    "capture_within": str(self._rules.capture_within),
                    "review_within": str(self._rules.review_within),
                    "policy": self.ctx.policy.digest,
                },
            )
            return self._incident_view(session, incident)

    def capture(self, cmd: CaptureBreakGlass, actor: Identity) -> CaptureResult:
        """Capture, then (remote authority) export the capture through the outbox once it is committed."""
        result, unreadable = self._capture(cmd, actor)
        if result.proposal is None or result.proposal.state != ProposalState.QUEUED or unreadable:
            return result  # unreachable: the outbox flusher delivers it later
        delivery = Outbox(self.ctx).deliver(result.proposal.id, actor)
        with self.ctx.db.read() as session:
            proposal = session.get(Proposal, result.proposal.id)
            assert proposal is not None  # stored by _capture
            view = proposal_view(session, proposal, self.ctx.clock())
        return result.model_copy(update={"proposal": view, "message": f"{result.message}; {delivery.message}"})

    def _capture(self, cmd: CaptureBreakGlass, actor: Identity) -> tuple[CaptureResult, bool]:
        refuse_secrets_in_text(explanation=cmd.explanation)
        live = parse_config(cmd.live_state, "live_state")
        refuse_secrets("live_state", live)
        space, unit = cmd.unit.split("/", 1)
        # When a remote authority cannot be read the capture is still recorded, queued, and its patch recomputed at delivery.
        seen = self.proposing.read(space, unit)
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            incident = session.get(Incident, cmd.incident_id)
            if incident is None:
                raise NotFound(
                    f"incident_id: no incident {cmd.incident_id} was declared; call breakglass_declare first"
                )
            if cmd.unit not in incident.units:
                raise InvalidInput(
                    f"unit: {cmd.unit} is not one of incident {incident.id}'s units ({', '.join(incident.units)})"
                )
            obligation = session.exec(
                select(Obligation).where(
                    Obligation.incident_id == incident.id, Obligation.kind == "capture", Obligation.unit == cmd.unit
                )
            ).one()
            if obligation.status == "met":
                raise Conflict(
                    f"unit: {cmd.unit} was already captured for {incident.id} ({obligation.evidence.get('proposal_id') or 'no drift'}); "
                    "a later change is a new incident or a normal proposal"
                )
            target = self.proposing.resolve(session, seen, space, unit, "unit")
            head = target.head
            patch = make_patch(target.base, live)
            late = now > obligation.due_at
            description = f"break-glass ({incident.id}): captured live state at {iso(now)}"
            proposal = None
            if not patch:
                evidence: dict[str, Any] = {"drift": False, "head_revision": head.head_revision_num if head else None}
                message = f"{cmd.unit}: the live state equals head revision {head.head_revision_num if head else '-'}; nothing to reconcile"
            else:
                new_unit = (
                    head is None and target.unreadable is None
                )  # unreachable: the unit that broke is assumed to exist
                risk, requirement = self.proposing.assess(patch, target, new_unit=new_unit)
                proposal_id = new_id("proposal")
                proposal = self.proposing.store(
                    session,
                    actor,
                    target,
                    Draft(
                        id=proposal_id,
                        kind="capture",
                        space=space,
                        unit=unit,
                        new_unit=new_unit,
                        data=live,
                        patch=patch,
                        risk=risk,
                        requirement=requirement,
                        rationale=f"{description}. Incident: {incident.reason}",
                        evidence={
                            "incident_id": incident.id,
                            "captured_at": iso(now),
                            "declared_by": incident.declared_by,
                            "summary": description,
                        },
                        confidence=1.0,
                        incident_id=incident.id,
                        change_set_slug=f"break-glass-{incident.id}",
                        description=description,
                        labels={
                            "incident-id": incident.id,
                            "proposal-id": proposal_id,
                            "risk-class": risk.level,
                            "bypass-criterion": "4",
                            **{tag: "true" for tag in BREAK_GLASS_TAGS},
                        },
                        annotations={
                            "captured-by": str(actor),
                            "captured-at": iso(now),
                            "incident-reason": incident.reason,
                        },
                        tags=BREAK_GLASS_TAGS,
                    ),
                    provisional="The head could not be read; the patch and risk are recomputed when the capture is delivered",
                )
                evidence = {"drift": True, "proposal_id": proposal.id, "revision_id": proposal.revision_id}
                message = (
                    f"{cmd.unit}: live state captured as a pending revision tagged break-glass (proposal {proposal.id}, "
                    f"{risk.level} risk); a human review persists it (approve and apply) or reverts it (reject)"
                )
            obligation.status, obligation.met_at, obligation.met_by = ObligationStatus.MET, now, str(actor)
            obligation.evidence = {**evidence, "late": late}
            session.add(obligation)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "breakglass.capture",
                "incident",
                incident.id,
                explanation=cmd.explanation,
                details={"unit": cmd.unit, **evidence, "late": late, "description": description},
            )
            return CaptureResult(
                incident_id=incident.id,
                unit=cmd.unit,
                drift=bool(patch) or target.unreadable is not None,
                proposal=proposal_view(session, proposal, now) if proposal else None,
                obligation=obligation_view(session, obligation, now),
                message=message + (f" (captured late: it was due {iso(obligation.due_at)})" if late else ""),
                warnings=self.overdue_warnings(session),
            ), target.unreadable is not None

    def obligations(self, cmd: ListObligations) -> ObligationList:
        with self.ctx.db.read() as session:
            query = select(Obligation).order_by(col(Obligation.due_at))
            if cmd.incident_id:
                query = query.where(Obligation.incident_id == cmd.incident_id)
            views = self._views(session, session.exec(query).all())
            warnings = self.overdue_warnings(session)
        counts = {s: sum(1 for v in views if v.status == s) for s in ("open", "overdue", "met")}
        wanted = {
            "open": ("open", "overdue"),
            "overdue": ("overdue",),
            "met": ("met",),
            "all": ("open", "overdue", "met"),
        }[cmd.status]
        shown = [v for v in views if v.status in wanted][: cmd.limit]
        return ObligationList(
            obligations=shown,
            open=counts["open"] + counts["overdue"],
            overdue=counts["overdue"],
            met=counts["met"],
            warnings=warnings,
        )
