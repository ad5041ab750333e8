"""Step 5: the winning variant becomes a proposal in the authority.

Preconditions are checked here and nowhere else: the variant has results for
the objective, it is the winner (or a justification says why not), it holds no
literal secret, and the target exists (or a new unit is declared). Then, in one
transaction: the sandbox is destroyed if still live, the JSON Patch from the
target's head is computed, the risk is classified, and the proposal and its
change set are stored (app/proposing.py). The unit's head does not move: only a
human decision can make the proposal current configuration.

With a remote authority (ConfigHub) the proposal is committed as `queued` and
delivered right after the commit through the outbox (app/outbox.py): if ConfigHub
cannot be reached, the agent gets the stored proposal, queued with the reason,
instead of an error, and the outbox delivers it later.
"""

from __future__ import annotations

import json

from sqlmodel import col, select

from cublab.app.common import check_id, existing, find
from cublab.app.context import AppContext
from cublab.app.experiments import Experiments, writable
from cublab.app.governance import not_governed_unit
from cublab.app.guards import refuse_secrets, refuse_secrets_in_text
from cublab.app.inputs import CompareExperiment, PromoteVariant, ProposalRef
from cublab.app.outbox import Outbox
from cublab.app.outputs import ProposalView
from cublab.app.proposals import Proposals
from cublab.app.proposing import Draft, Proposing
from cublab.app.quotas import enforce
from cublab.app.sandboxes import Sandboxes
from cublab.app.views import proposal_view
from cublab.domain.canonical import content_hash
from cublab.domain.errors import Conflict, InvalidInput
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.patch import make_patch
from cublab.domain.proposals import OPEN_STATES
from cublab.domain.states import ProposalState
from cublab.store.tables import Experiment, Proposal, Sandbox, Variant


class Promotion:
    def __init__(self, ctx: AppContext, sandboxes: Sandboxes, experiments: Experiments, proposals: Proposals) -> None:
        self.ctx = ctx
        self.sandboxes = sandboxes
        self.experiments = experiments
        self.proposals = proposals
        self.proposing = Proposing(ctx)

    def promote(self, cmd: PromoteVariant, actor: Identity) -> ProposalView:
        check_id("variant", cmd.variant_id, "variant_id")
        refuse_secrets_in_text(
            rationale=cmd.rationale,
            justification=cmd.justification,
            model=cmd.model,
            target_space=cmd.target_space,
            target_unit=cmd.target_unit,
            explanation=cmd.explanation,
        )
        with self.ctx.db.read() as session:
            variant = find(session, Variant, "variant", cmd.variant_id, "variant_id")
            experiment = existing(session, Experiment, variant.experiment_id)
        writable(experiment, actor, "promote its variants (promotion destroys its sandbox)")
        space = cmd.target_space or experiment.target_space
        unit = cmd.target_unit or experiment.target_unit
        if not space or not unit:
            raise InvalidInput(
                "target_space/target_unit: the experiment names no target; pass target_space and target_unit"
            )
        comparison = self.experiments.compare(CompareExperiment(experiment_id=experiment.id))
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

        seen = self.proposing.read(space, unit)
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            again = session.exec(
                select(Proposal).where(
                    Proposal.variant_id == variant.id,
                    Proposal.target_space == space,
                    Proposal.target_unit == unit,
                    col(Proposal.state).in_((*OPEN_STATES, ProposalState.QUEUED)),
                    col(Proposal.expires_at) > now,
                )
            ).first()
            if again is not None:
                return proposal_view(session, again, now, promoted_again=True)
            enforce(self.ctx, session, actor, "open_proposals")
            target = self.proposing.resolve(session, seen, space, unit, "target_space")
            head = target.head
            if target.unreadable is None:
                if head is None and not cmd.new_unit:
                    raise not_governed_unit(self.ctx.remote.name if self.ctx.remote else "embedded", space, unit)
                if head is not None and cmd.new_unit:
                    raise Conflict(
                        f"new_unit: unit {unit!r} already exists in space {space!r} (head revision {head.head_revision_num}); propose a change to it instead"
                    )
            patch = make_patch(target.base, config)
            if not patch:
                raise Conflict(
                    f"variant_id: the configuration equals the head of {space}/{unit} "
                    f"(revision {head.head_revision_num if head else None}); there is nothing to propose"
                )

            # again inside the write: a human may have handed the experiment over since it was read
            writable(existing(session, Experiment, experiment.id), actor, "promote its variants")
            sandbox = existing(session, Sandbox, experiment.sandbox_id)
            if sandbox.status != "destroyed":
                self.sandboxes.destroy_in(
                    session, sandbox, actor, "destroyed before promotion: step 4 comes before step 5"
                )

            risk, requirement = self.proposing.assess(patch, target, new_unit=cmd.new_unit)
            proposal_id = new_id("proposal")
            base_num, base_version = (head.head_revision_num, head.version) if head else (None, None)
            evidence = comparison.model_dump(mode="json")
            proposal = self.proposing.store(
                session,
                actor,
                target,
                Draft(
                    id=proposal_id,
                    kind="variant",
                    space=space,
                    unit=unit,
                    new_unit=cmd.new_unit,
                    data=config,
                    patch=patch,
                    risk=risk,
                    requirement=requirement,
                    rationale=cmd.rationale,
                    evidence=evidence,
                    confidence=cmd.confidence,
                    experiment_id=experiment.id,
                    variant_id=variant.id,
                    justification=cmd.justification,
                    proposer_model=cmd.model,
                    change_set_slug=f"proposal-{proposal_id}",
                    description=f"cublab proposal {proposal_id}: variant {variant.name!r} of experiment {experiment.name!r} ({risk.level} risk)",
                    labels={
                        "proposal-id": proposal_id,
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
                        "metrics-digest": content_hash(evidence),
                        "base-revision": str(base_num or ""),
                        "base-version": str(base_version or ""),
                    },
                ),
                provisional=(
                    "The target's head could not be read, so the patch and risk are provisional (against an empty "
                    "document, assuming a production space); they are computed against the head when the outbox "
                    "delivers the proposal"
                    + (
                        " after an operator fixes the cause (`cublab outbox flush --retry-held`)"
                        if target.held
                        else " (`cublab outbox flush`, or the server's periodic flush)"
                    )
                ),
            )
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
                    "approvals_needed": requirement["approvals_needed"],
                    "base_revision": proposal.base_revision_num,
                    "patch_ops": len(patch),
                    "justification": bool(cmd.justification),
                    "policy": self.ctx.policy.digest,
                    **(
                        {"authority": proposal.authority, "state": proposal.state}
                        if self.ctx.remote is not None
                        else {}
                    ),
                },
            )
            if self.ctx.remote is None:
                return proposal_view(session, proposal, now)
        if target.unreadable is None:
            Outbox(self.ctx).deliver(proposal.id, actor)
        return self.proposals.get(ProposalRef(proposal_id=proposal.id))
