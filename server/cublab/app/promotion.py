"""Step 5: the winning variant becomes a proposal in the authority.

Preconditions are checked here and nowhere else: the variant has results for
the objective, it is the winner (or a justification says why not), it holds no
literal secret, and the target exists (or a new unit is declared). Then, in one
transaction: the sandbox is destroyed if still live, the JSON Patch from the
target's head is computed, the risk is classified, and the proposal and its
change set are stored. The unit's head does not move: only a human decision can
make the proposal current configuration.

With a remote authority (ConfigHub) the target is read before the transaction,
the proposal is committed as `queued` with its export request, and delivered
right after the commit through the outbox (app/outbox.py): if ConfigHub cannot
be reached, the agent gets the stored proposal, queued with the reason, instead
of an error, and the outbox delivers it later.
"""

from __future__ import annotations

import json

from sqlmodel import Session, select

from cublab.app import inputs as i
from cublab.app import outputs as o
from cublab.app.context import AppContext
from cublab.app.guards import refuse_secrets, refuse_secrets_in_text
from cublab.app.ledger import Ledger, check_id
from cublab.app.outbox import QUEUED, Outbox, assess, read_target, resolve_target
from cublab.authority.base import ChangeRequest
from cublab.domain.canonical import content_hash
from cublab.domain.errors import Conflict, InvalidInput, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.patch import make_patch
from cublab.domain.proposals import OPEN_STATES, DecisionRecord, effective_state, requirement_status
from cublab.store.tables import AuthorityExport, Experiment, Proposal, ProposalDecision, Sandbox, Variant


def proposal_view(session: Session, p: Proposal, now, promoted_again: bool = False) -> o.ProposalView:
    decisions = session.exec(
        select(ProposalDecision).where(ProposalDecision.proposal_id == p.id).order_by(ProposalDecision.id)
    ).all()
    status = requirement_status(
        p.requirement,
        [DecisionRecord(d.actor, d.decision, d.created_at) for d in decisions],
        proposer=p.proposer,
        created_at=p.created_at,
        now=now,
    )
    return o.ProposalView(
        id=p.id,
        state=effective_state(p.state, p.expires_at, now),
        state_reason=p.state_reason,
        experiment_id=p.experiment_id,
        variant_id=p.variant_id,
        target=o.ProposalTarget(
            space=p.target_space, unit=p.target_unit, new_unit=p.new_unit, base_revision_num=p.base_revision_num
        ),
        patch=p.patch,
        rationale=p.rationale,
        justification=p.justification,
        evidence=p.evidence,
        proposer=o.Proposer(identity=p.proposer, model=p.proposer_model, confidence=p.confidence),
        risk=o.Risk(level=p.risk_class, rationale=p.risk_rationale),
        requirement=o.Requirement(**p.requirement),
        decisions=[
            o.DecisionView(actor=d.actor, role=d.role, decision=d.decision, reason=d.reason, at=d.created_at)
            for d in decisions
        ],
        requirement_met=status.met,
        still_required=status.still_required,
        authority=o.AuthorityRef(
            name=p.authority,
            change_set_slug=f"break-glass-{p.incident_id}" if p.kind == "capture" else f"proposal-{p.id}",
            change_set_id=p.change_set_id,
            revision_id=p.revision_id,
        ),
        policy_digest=p.policy_digest,
        created_at=p.created_at,
        expires_at=p.expires_at,
        promoted_again=promoted_again,
    )


class Promotion:
    def __init__(self, ctx: AppContext, ledger: Ledger) -> None:
        self.ctx = ctx
        self.ledger = ledger

    @property
    def _rules(self):
        return self.ctx.policy.policy.promotion

    def promote(self, cmd: i.PromoteVariant, actor: Identity) -> o.ProposalView:
        check_id("variant", cmd.variant_id, "variant_id")
        refuse_secrets_in_text(
            rationale=cmd.rationale, justification=cmd.justification, model=cmd.model, explanation=cmd.explanation
        )
        with self.ctx.db.read() as session:
            variant = session.get(Variant, cmd.variant_id)
            if variant is None:
                raise NotFound(f"variant_id: no variant {cmd.variant_id} exists")
            experiment = session.get(Experiment, variant.experiment_id)
        space = cmd.target_space or experiment.target_space
        unit = cmd.target_unit or experiment.target_unit
        if not space or not unit:
            raise InvalidInput(
                "target_space/target_unit: the experiment names no target; pass target_space and target_unit"
            )
        comparison = self.ledger.compare(i.CompareExperiment(experiment_id=experiment.id))
        mine = next((v for v in comparison.variants if v.variant_id == variant.id), None)
        if mine is None or mine.n == 0:
            raise Conflict(
                f"variant_id: {variant.name!r} has no results for the objective metric {experiment.objective_metric!r}; log results before promoting"
            )
        if comparison.winner != variant.id and not cmd.justification:
            why = {
                "winner": f"the winner is {comparison.winner}",
                "no_significant_difference": "no variant is significantly better",
                "not_enough_data": "there is not enough data to name a winner",
            }[comparison.verdict]
            raise Conflict(
                f"justification: {variant.name!r} is not the winner by experiment_compare ({why}: {comparison.summary}); "
                "promote the winner, collect more data, or give a justification reviewers will read"
            )
        config = json.loads(variant.config_json)
        refuse_secrets("config", config)

        remote = self.ctx.remote
        seen = read_target(remote, space, unit) if remote is not None else None
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            again = session.exec(
                select(Proposal).where(
                    Proposal.variant_id == variant.id,
                    Proposal.target_space == space,
                    Proposal.target_unit == unit,
                    Proposal.state.in_((*OPEN_STATES, QUEUED)),
                    Proposal.expires_at > now,
                )
            ).first()
            if again is not None:
                return proposal_view(session, again, now, promoted_again=True)
            authority = self.ctx.authority(session)
            target, head, offline, held = resolve_target(authority, seen, space, unit, "target_space")
            if offline is None:
                if head is None and not cmd.new_unit:
                    raise NotFound(
                        f"target_unit: no unit {unit!r} in space {space!r}; pass new_unit=true to propose a new unit"
                    )
                if head is not None and cmd.new_unit:
                    raise Conflict(
                        f"new_unit: unit {unit!r} already exists in space {space!r} (head revision {head.head_revision_num}); propose a change to it instead"
                    )
            patch = make_patch(head.data if head else {}, config)
            if not patch:
                raise Conflict(
                    f"variant_id: the configuration equals the head of {space}/{unit} (revision {head.head_revision_num}); there is nothing to propose"
                )

            sandbox = session.get(Sandbox, experiment.sandbox_id)
            if sandbox.status != "destroyed":
                self.ledger.destroy_in(
                    session, sandbox, actor, "destroyed before promotion: step 4 comes before step 5"
                )

            # Unreachable: the tier is unknown too, so the provisional risk assumes production (an upper bound).
            risk, requirement = assess(
                self.ctx, patch, space=None if offline is not None else target, new_unit=cmd.new_unit
            )
            proposal = Proposal(
                id=new_id("proposal"),
                experiment_id=experiment.id,
                variant_id=variant.id,
                target_space=space,
                target_unit=unit,
                new_unit=cmd.new_unit,
                base_revision_num=head.head_revision_num if head else None,
                base_version=head.version if head else None,
                patch=patch,
                rationale=cmd.rationale,
                justification=cmd.justification,
                evidence=comparison.model_dump(mode="json"),
                proposer=str(actor),
                proposer_model=cmd.model,
                confidence=cmd.confidence,
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
                expires_at=now + self._rules.proposal_expiry,
                decided_at=None,
            )
            change = ChangeRequest(
                space=space,
                unit=unit,
                new_unit=cmd.new_unit,
                toolchain_type=head.toolchain_type if head else "AppConfig/JSON",
                data=config,
                base_revision_num=proposal.base_revision_num,
                base_version=proposal.base_version,
                change_set_slug=f"proposal-{proposal.id}",
                description=f"cublab proposal {proposal.id}: variant {variant.name!r} of experiment {experiment.name!r} ({risk.level} risk)",
                labels={
                    "proposal-id": proposal.id,
                    "experiment-id": experiment.id,
                    "variant-id": variant.id,
                    "proposer-type": actor.kind,
                    "risk-class": risk.level,
                    "bypass-criterion": "7",
                },
                annotations={
                    "proposer": str(actor),
                    "proposer-model": cmd.model or "",
                    "confidence": f"{cmd.confidence:g}",
                    "rationale": cmd.rationale,
                    "evidence": comparison.summary,
                    "metrics-digest": content_hash(proposal.evidence),
                    "base-revision": str(proposal.base_revision_num or ""),
                    "base-version": str(proposal.base_version or ""),
                },
                user_id=str(actor),
            )
            outbox = Outbox(self.ctx, self.ledger)
            if offline is not None:
                outbox.enqueue(
                    session,
                    proposal,
                    change,
                    authority,
                    status="held" if held else QUEUED,
                    reason=(
                        f"{'held' if held else 'queued'}: {offline}. The target's head could not be read, so the patch and risk are "
                        f"provisional (against {'an empty document' if head is None else 'the last head read'}, assuming a production "
                        "space); they are computed against the head when the outbox delivers the proposal"
                        + (
                            " after an operator fixes the cause (`cublab outbox flush --retry-held`)"
                            if held
                            else " (`cublab outbox flush`, or the server's periodic flush)"
                        )
                    ),
                )
            else:
                landed = outbox.submit(session, authority, proposal, change)
                if landed is not None:
                    proposal.change_set_id, proposal.revision_id = landed.change_set_id, landed.revision_id
                    session.add(proposal)
                else:
                    self._keep_base(session, proposal.id, head)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "proposal.create",
                "proposal",
                proposal.id,
                related={"experiment_id": experiment.id, "variant_id": variant.id, "sandbox_id": sandbox.id},
                explanation=cmd.explanation,
                details={
                    "target": f"{space}/{unit}",
                    "risk": risk.level,
                    "requirement": requirement["kind"],
                    "base_revision": proposal.base_revision_num,
                    "patch_ops": len(patch),
                    "justification": bool(cmd.justification),
                    "policy": self.ctx.policy.digest,
                    **({"authority": authority.name, "state": proposal.state} if remote is not None else {}),
                },
            )
            if remote is None:
                return proposal_view(session, proposal, now)
        if offline is None:
            Outbox(self.ctx, self.ledger).deliver(proposal.id, actor)
        return self.get(i.ProposalRef(proposal_id=proposal.id))

    @staticmethod
    def _keep_base(session: Session, proposal_id: str, head) -> None:
        export = session.get(AuthorityExport, proposal_id)
        export.request = {**export.request, "base_data": head.data if head else {}}
        session.add(export)

    def get(self, cmd: i.ProposalRef) -> o.ProposalView:
        check_id("proposal", cmd.proposal_id, "proposal_id")
        with self.ctx.db.read() as session:
            proposal = session.get(Proposal, cmd.proposal_id)
            if proposal is None:
                raise NotFound(f"proposal_id: no proposal {cmd.proposal_id} exists")
            return proposal_view(session, proposal, self.ctx.clock())

    def list(self, cmd: i.ListProposals) -> o.ProposalPage:
        now = self.ctx.clock()
        query = select(Proposal).order_by(Proposal.id.desc()).limit(cmd.limit + 1)
        if cmd.cursor:
            query = query.where(Proposal.id < check_id("proposal", cmd.cursor, "cursor"))
        if cmd.experiment_id:
            query = query.where(Proposal.experiment_id == check_id("experiment", cmd.experiment_id, "experiment_id"))
        if cmd.state == "expired":
            query = query.where(
                (Proposal.state == "expired") | (Proposal.state.in_(OPEN_STATES) & (Proposal.expires_at <= now))
            )
        elif cmd.state in OPEN_STATES:
            query = query.where(Proposal.state == cmd.state, Proposal.expires_at > now)
        elif cmd.state:
            query = query.where(Proposal.state == cmd.state)
        with self.ctx.db.read() as session:
            rows = session.exec(query).all()
            page = rows[: cmd.limit]
            return o.ProposalPage(
                proposals=[proposal_view(session, p, now) for p in page],
                next_cursor=page[-1].id if len(rows) > cmd.limit else None,
            )


def base_and_target(session: Session, ctx: AppContext, p: Proposal) -> tuple[dict, dict]:
    """The base revision's data and the proposed data, for diffs."""
    from cublab.authority.embedded import EmbeddedAuthority
    from cublab.domain.patch import apply_patch

    if (
        p.authority != "embedded"
    ):  # the authority holds the documents; cublab keeps what it proposed and the base it read
        export = session.get(AuthorityExport, p.id)
        if export is not None:
            return dict(export.request.get("base_data") or {}), dict(export.request["data"])
    base: dict = {}
    if p.base_revision_num:
        authority = EmbeddedAuthority(session, ctx.clock)
        base = json.loads(authority.revision(p.target_space, p.target_unit, p.base_revision_num).data)
    return base, apply_patch(base, p.patch)
