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

from datetime import datetime

from sqlmodel import Session, select

from cublab.app import inputs as i
from cublab.app import outputs as o
from cublab.app.context import AppContext
from cublab.app.guards import refuse_secrets, refuse_secrets_in_text
from cublab.app.ledger import Ledger
from cublab.app.outbox import QUEUED, Outbox, assess, read_target, resolve_target
from cublab.app.promotion import proposal_view
from cublab.authority.base import ChangeRequest
from cublab.domain.durations import format_duration
from cublab.domain.errors import Conflict, InvalidInput, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.patch import make_patch
from cublab.domain.proposals import DECIDED_STATES
from cublab.store.audit import iso
from cublab.store.tables import Incident, Obligation, Proposal

BREAK_GLASS_TAGS = ("break-glass", "drift-capture", "reconciliation")


def _late(delta) -> str:
    return format_duration(delta) or "0s"


class BreakGlass:
    def __init__(self, ctx: AppContext, ledger: Ledger) -> None:
        self.ctx = ctx
        self.ledger = ledger

    @property
    def _rules(self):
        return self.ctx.policy.policy.bypass.breakglass

    # ---- obligations, as they stand now --------------------------------------------------

    def _review_met(self, session: Session, incident_id: str) -> tuple[bool, datetime | None, list[str]]:
        """The review is met when every unit is captured and every capture has a human decision."""
        captures = session.exec(
            select(Obligation).where(Obligation.incident_id == incident_id, Obligation.kind == "capture")
        ).all()
        if any(c.status != "met" for c in captures):
            return False, None, []
        proposals = session.exec(select(Proposal).where(Proposal.incident_id == incident_id)).all()
        if any(p.state not in DECIDED_STATES for p in proposals):
            return False, None, []  # an expired capture was never reviewed: a human still persists or reverts it
        moments = [p.decided_at for p in proposals if p.decided_at] + [c.met_at for c in captures if c.met_at]
        return True, max(moments, default=None), [f"{p.id}: {p.state}" for p in proposals]

    def _view(self, session: Session, ob: Obligation, now: datetime) -> o.ObligationView:
        status, met_at, evidence = ob.status, ob.met_at, dict(ob.evidence)
        if ob.kind == "review" and status == "open":
            met, met_at, decided = self._review_met(session, ob.incident_id)
            if met:
                status, evidence = "met", {**evidence, "decisions": decided}
        if status == "open" and ob.due_at <= now:
            status = "overdue"
        if ob.kind == "capture":
            what = f"capture the live state of {ob.unit} into the authority (tag break-glass)"
        else:
            what = "review the captured changes: persist (approve and apply) or revert (reject) each"
        if status == "overdue":
            what += f": OVERDUE by {_late(now - ob.due_at)}"
        return o.ObligationView(
            id=ob.id,
            incident_id=ob.incident_id,
            kind=ob.kind,
            unit=ob.unit,
            status=status,
            due_at=ob.due_at,
            met_at=met_at,
            met_by=ob.met_by,
            evidence=evidence,
            description=what,
        )

    def _views(self, session: Session, obligations: list[Obligation]) -> list[o.ObligationView]:
        now = self.ctx.clock()
        return [self._view(session, ob, now) for ob in obligations]

    def overdue_warnings(self, session: Session | None = None) -> list[str]:
        """One loud line per overdue obligation; empty when none is."""
        if session is None:
            with self.ctx.db.read() as s:
                return self.overdue_warnings(s)
        now = self.ctx.clock()
        due = session.exec(
            select(Obligation).where(Obligation.status == "open", Obligation.due_at <= now).order_by(Obligation.due_at)
        ).all()
        lines = []
        for view in self._views(session, list(due)):
            if view.status == "overdue":
                lines.append(
                    f"OVERDUE {view.kind} for incident {view.incident_id}{' (' + view.unit + ')' if view.unit else ''}: "
                    f"due {iso(view.due_at)}, late by {_late(now - view.due_at)}"
                )
        return lines

    # ---- use cases -------------------------------------------------------------------

    def declare(self, cmd: i.DeclareBreakGlass, actor: Identity) -> o.IncidentView:
        refuse_secrets_in_text(incident_id=cmd.incident_id, reason=cmd.reason)
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
            if (
                self.ctx.remote is None
            ):  # a remote authority may be down (that is a break-glass reason): never ask it here
                authority = self.ctx.authority(session)
                unknown = sorted({u.split("/", 1)[0] for u in units if authority.get_space(u.split("/", 1)[0]) is None})
                if unknown:  # an obligation no capture could ever meet would be overdue forever
                    raise NotFound(
                        f"units: no space {', '.join(unknown)} in the {authority.name} authority; name units as 'space/unit'"
                    )
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
            for unit in units:
                session.add(
                    Obligation(
                        id=new_id("obligation"),
                        incident_id=incident.id,
                        kind="capture",
                        unit=unit,
                        status="open",
                        due_at=now + self._rules.capture_within,
                        evidence={},
                        created_by=str(actor),
                        created_at=now,
                    )
                )
            session.add(
                Obligation(
                    id=new_id("obligation"),
                    incident_id=incident.id,
                    kind="review",
                    unit=None,
                    status="open",
                    due_at=now + self._rules.review_within,
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

    def _incident_view(self, session: Session, incident: Incident, declared_again: bool = False) -> o.IncidentView:
        obligations = session.exec(
            select(Obligation).where(Obligation.incident_id == incident.id).order_by(Obligation.id)
        ).all()
        return o.IncidentView(
            incident_id=incident.id,
            reason=incident.reason,
            units=incident.units,
            declared_by=incident.declared_by,
            declared_at=incident.declared_at,
            policy_version=incident.policy_digest,
            obligations=self._views(session, list(obligations)),
            declared_again=declared_again,
            warnings=self.overdue_warnings(session),
        )

    def capture(self, cmd: i.CaptureBreakGlass, actor: Identity) -> o.CaptureResult:
        """Capture, then (remote authority) export the capture through the outbox once it is committed."""
        result, offline = self._capture(cmd, actor)
        if result.proposal is None or result.proposal.state != "queued" or offline:
            return result  # unreachable: the outbox flusher delivers it later
        delivery = Outbox(self.ctx, self.ledger).deliver(result.proposal.id, actor)
        with self.ctx.db.read() as session:
            view = proposal_view(session, session.get(Proposal, result.proposal.id), self.ctx.clock())
        return result.model_copy(update={"proposal": view, "message": f"{result.message}; {delivery.message}"})

    def _capture(self, cmd: i.CaptureBreakGlass, actor: Identity) -> tuple[o.CaptureResult, bool]:
        live = Ledger.parse_config(cmd.live_state)
        refuse_secrets("live_state", live)
        space, unit = cmd.unit.split("/", 1)
        # A remote authority is read before the transaction (no network wait holds the write lock); when it
        # cannot be reached the capture is still recorded, queued, and its patch recomputed at delivery.
        seen = read_target(self.ctx.remote, space, unit) if self.ctx.remote is not None else None
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
            authority = self.ctx.authority(session)
            target, head, offline, held = resolve_target(authority, seen, space, unit, "unit")
            patch = make_patch(head.data if head else {}, live)
            late = now > obligation.due_at
            description = f"break-glass ({incident.id}): captured live state at {iso(now)}"
            proposal_out = None
            if not patch:
                evidence = {"drift": False, "head_revision": head.head_revision_num if head else None}
                message = f"{cmd.unit}: the live state equals head revision {head.head_revision_num if head else '-'}; nothing to reconcile"
            else:
                rules = self.ctx.policy.policy.promotion
                new_unit = head is None and offline is None  # unreachable: the unit that broke is assumed to exist
                risk, requirement = assess(
                    self.ctx, patch, space=target if offline is None else None, new_unit=new_unit
                )
                proposal = Proposal(
                    id=new_id("proposal"),
                    kind="capture",
                    experiment_id=None,
                    variant_id=None,
                    incident_id=incident.id,
                    target_space=space,
                    target_unit=unit,
                    new_unit=new_unit,
                    base_revision_num=head.head_revision_num if head else None,
                    base_version=head.version if head else None,
                    patch=patch,
                    rationale=f"{description}. Incident: {incident.reason}",
                    justification=None,
                    evidence={
                        "incident_id": incident.id,
                        "captured_at": iso(now),
                        "declared_by": incident.declared_by,
                        "summary": description,
                    },
                    proposer=str(actor),
                    proposer_model=None,
                    confidence=1.0,
                    risk_class=risk.level,
                    risk_rationale=list(risk.rationale),
                    requirement=requirement,
                    state="pending",
                    state_reason=None,
                    authority=authority.name,
                    change_set_id=None,
                    revision_id=None,
                    policy_digest=self.ctx.policy.digest,
                    created_at=now,
                    expires_at=now + rules.proposal_expiry,
                    decided_at=None,
                )
                request = ChangeRequest(
                    space=space,
                    unit=unit,
                    new_unit=new_unit,
                    toolchain_type=head.toolchain_type if head else "AppConfig/JSON",
                    data=live,
                    base_revision_num=proposal.base_revision_num,
                    base_version=proposal.base_version,
                    change_set_slug=f"break-glass-{incident.id}",
                    description=description,
                    labels={
                        "incident-id": incident.id,
                        "proposal-id": proposal.id,
                        "risk-class": risk.level,
                        "bypass-criterion": "4",
                        **{tag: "true" for tag in BREAK_GLASS_TAGS},
                    },
                    annotations={
                        "captured-by": str(actor),
                        "captured-at": iso(now),
                        "incident-reason": incident.reason,
                    },
                    user_id=str(actor),
                    tags=BREAK_GLASS_TAGS,
                )
                outbox = Outbox(self.ctx, self.ledger)
                if offline is not None:
                    outbox.enqueue(
                        session,
                        proposal,
                        request,
                        authority,
                        status="held" if held else QUEUED,
                        reason=f"{'held' if held else 'queued'}: {offline}. The head could not be read; the patch and "
                        "risk are recomputed when the capture is delivered",
                    )
                    change = None
                else:
                    change = outbox.submit(session, authority, proposal, request)
                if (
                    change is not None
                ):  # None: queued for a remote authority, delivered after the commit (capture below)
                    proposal.change_set_id, proposal.revision_id = change.change_set_id, change.revision_id
                session.add(proposal)
                session.flush()
                evidence = {
                    "drift": True,
                    "proposal_id": proposal.id,
                    "revision_id": change.revision_id if change else None,
                }
                message = (
                    f"{cmd.unit}: live state captured as a pending revision tagged break-glass (proposal {proposal.id}, "
                    f"{risk.level} risk); a human review persists it (approve and apply) or reverts it (reject)"
                )
                proposal_out = proposal
            obligation.status, obligation.met_at, obligation.met_by = "met", now, str(actor)
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
            return o.CaptureResult(
                incident_id=incident.id,
                unit=cmd.unit,
                drift=bool(patch) or offline is not None,
                proposal=proposal_view(session, proposal_out, now) if proposal_out else None,
                obligation=self._view(session, obligation, now),
                message=message + (f" (captured late: it was due {iso(obligation.due_at)})" if late else ""),
                warnings=self.overdue_warnings(session),
            ), offline is not None

    def obligations(self, cmd: i.ListObligations) -> o.ObligationList:
        with self.ctx.db.read() as session:
            query = select(Obligation).order_by(Obligation.due_at)
            if cmd.incident_id:
                query = query.where(Obligation.incident_id == cmd.incident_id)
            views = self._views(session, list(session.exec(query).all()))
            warnings = self.overdue_warnings(session)
        counts = {s: sum(1 for v in views if v.status == s) for s in ("open", "overdue", "met")}
        wanted = {
            "open": ("open", "overdue"),
            "overdue": ("overdue",),
            "met": ("met",),
            "all": ("open", "overdue", "met"),
        }[cmd.status]
        shown = [v for v in views if v.status in wanted][: cmd.limit]
        return o.ObligationList(
            obligations=shown,
            open=counts["open"] + counts["overdue"],
            overdue=counts["overdue"],
            met=counts["met"],
            warnings=warnings,
        )
