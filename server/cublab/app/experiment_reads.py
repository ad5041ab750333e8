"""Experiments as reviewers read them: listed with filters, shown in full, sampled for charts, exported.

Pure reads, for every human adapter (the CLI's `experiments list|show|export`, the web
console's pages). The comparison is `Experiments.compare`, the same one agents get, so a
page and `experiment_compare` can never disagree.

Cost is bounded for any experiment size: listings and batches are paged, the metrics
of an experiment are its series (`result_summary`, not its points), a batch's metrics
are read from that batch's points only, and a chart gets at most `limit` measurements
per variant (`sample`, primary-key probes bounded by the limit and the variants, not by the
points), never the raw points.
"""

from __future__ import annotations

import math
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, case, exists, func, or_
from sqlmodel import Session, col, select

from cublab.app.common import existing, find
from cublab.app.context import AppContext
from cublab.app.experiments import Experiments
from cublab.app.expiry import proposal_state, sandbox_status
from cublab.app.inputs import CompareExperiment
from cublab.app.outputs import Comparison
from cublab.app.read_models import (
    MAX_SAMPLE,
    BatchView,
    ExperimentDetail,
    ExperimentExport,
    ExperimentFilter,
    ExperimentListing,
    ExperimentSummary,
    ExportVariant,
    MeasurementSample,
    ProposalLink,
    VariantSample,
)
from cublab.app.views import experiment_view, variant_view
from cublab.domain.errors import Conflict, InvalidInput
from cublab.domain.identity import fold_identity, principal_of
from cublab.domain.proposals import OPEN_STATES
from cublab.domain.states import ProposalState
from cublab.store import results
from cublab.store.tables import Experiment, Proposal, ResultBatch, Sandbox, Variant, table_of


def experiment_state(now: datetime) -> ColumnElement[str]:
    """The state of an experiment (read_models.ExperimentState) as SQL over `experiment` joined to its `sandbox`:
    one rule for filtering and for showing."""
    mine = col(Proposal.experiment_id) == col(Experiment.id)
    applied = exists().where(mine, col(Proposal.state) == ProposalState.APPLIED)
    open_ = exists().where(
        mine,
        or_(
            col(Proposal.state) == ProposalState.QUEUED,
            and_(col(Proposal.state).in_(OPEN_STATES), col(Proposal.expires_at) > now),
        ),
    )
    live = and_(col(Sandbox.status) == "active", col(Sandbox.expires_at) > now)
    return case((applied, "applied"), (open_, "proposed"), (live, "running"), else_="closed")


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default, `statistics.quantiles(method="inclusive")`)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ExperimentReads:
    def __init__(self, ctx: AppContext, experiments: Experiments) -> None:
        self.ctx = ctx
        self.experiments = experiments

    # ---- listing ---------------------------------------------------------------------------------

    def search(self, query: ExperimentFilter) -> ExperimentListing:
        """A page of experiments, newest first, matching every filter given; with the total for paging."""
        now = self.ctx.clock()
        state = experiment_state(now).label("state")
        where: list[ColumnElement[bool]] = []
        if query.sandbox_id:
            where.append(col(Experiment.sandbox_id) == query.sandbox_id)
        if query.agent:
            who = fold_identity(query.agent)
            where.append(or_(col(Experiment.owner) == principal_of(who), col(Experiment.created_by) == who))
        if query.space:
            where.append(col(Experiment.target_space) == query.space)
        if query.unit:
            where.append(col(Experiment.target_unit) == query.unit)
        if query.state:
            where.append(experiment_state(now) == query.state)
        joined = sa.join(table_of(Experiment), table_of(Sandbox), col(Experiment.sandbox_id) == col(Sandbox.id))
        variant_count = (
            sa.select(func.count())
            .where(col(Variant.experiment_id) == col(Experiment.id))
            .correlate(table_of(Experiment))
            .scalar_subquery()
        )
        latest = (
            sa.select(func.max(col(Proposal.id)))
            .where(col(Proposal.experiment_id) == col(Experiment.id))
            .correlate(table_of(Experiment))
            .scalar_subquery()
        )
        with self.ctx.db.read() as session:
            total = session.execute(sa.select(func.count()).select_from(joined).where(*where)).scalar_one()
            rows = session.execute(
                sa.select(Experiment, state, col(Sandbox.status), col(Sandbox.expires_at), variant_count, latest)
                .select_from(joined)
                .where(*where)
                .order_by(col(Experiment.id).desc())
                .limit(query.limit)
                .offset(query.offset)
            ).all()
            page = [
                ExperimentSummary(
                    **experiment_view(e).model_dump(),
                    state=s,
                    sandbox_status=sandbox_status(status, expires, now),
                    variant_count=count,
                    latest_proposal_id=proposal,
                )
                for e, s, status, expires, count, proposal in rows
            ]
        return ExperimentListing(experiments=page, total=total, offset=query.offset, limit=query.limit)

    # ---- one experiment ------------------------------------------------------------------------------

    def detail(
        self, experiment_id: str, metric: str | None = None, *, batch_limit: int = 50, sample_limit: int = 0
    ) -> ExperimentDetail:
        """The experiment, its variants and their configurations, the comparison of `metric` (the objective by
        default), its newest `batch_limit` result batches, the proposals it led to, and, when `sample_limit` is
        above 0, a chart's sample of `metric` (at most `sample_limit` values per variant: see `sample`)."""
        if not 1 <= batch_limit <= 200:
            raise InvalidInput(f"batch_limit: {batch_limit} is outside 1 to 200")
        comparison, problem = self._comparison(experiment_id, metric)
        now = self.ctx.clock()
        with self.ctx.db.read() as session:
            experiment = find(session, Experiment, "experiment", experiment_id, "experiment_id")
            sandbox = existing(session, Sandbox, experiment.sandbox_id)
            state = session.execute(
                sa.select(experiment_state(now))
                .select_from(
                    sa.join(table_of(Experiment), table_of(Sandbox), col(Experiment.sandbox_id) == col(Sandbox.id))
                )
                .where(col(Experiment.id) == experiment.id)
            ).scalar_one()
            variants = session.exec(
                select(Variant).where(Variant.experiment_id == experiment.id).order_by(col(Variant.id))
            ).all()
            metrics = self._metrics(session, experiment.id)
            batch_total, batches = self._batches(session, experiment.id, metrics, [v.id for v in variants], batch_limit)
            proposals = session.exec(
                select(Proposal).where(Proposal.experiment_id == experiment.id).order_by(col(Proposal.id).desc())
            ).all()
            links = [
                ProposalLink(
                    id=p.id,
                    variant_id=p.variant_id,
                    state=proposal_state(p.state, p.expires_at, now),
                    risk=p.risk_class,
                    target=f"{p.target_space}/{p.target_unit}",
                    proposer=p.proposer,
                    created_at=p.created_at,
                )
                for p in proposals
            ]
            sample = (
                self._sample(session, experiment.id, comparison, sample_limit)
                if sample_limit and comparison is not None
                else None
            )
        return ExperimentDetail(
            experiment=experiment_view(experiment),
            state=state,
            sandbox_id=sandbox.id,
            sandbox_name=sandbox.name,
            sandbox_status=sandbox_status(sandbox.status, sandbox.expires_at, now),
            variants=[variant_view(v) for v in variants],
            metrics=metrics,
            comparison=comparison,
            comparison_problem=problem,
            batches=batches,
            batch_total=batch_total,
            proposals=links,
            sample=sample,
        )

    def _comparison(self, experiment_id: str, metric: str | None) -> tuple[Comparison | None, str | None]:
        try:
            return self.experiments.compare(CompareExperiment(experiment_id=experiment_id, metric=metric)), None
        except Conflict as exc:  # values too large to compare: the rest of the page still reads
            return None, str(exc)

    @staticmethod
    def _metrics(session: Session, experiment_id: str) -> list[str]:
        """Every metric measured: the experiment's series, never a pass over the points."""
        return results.metrics(session.connection(), experiment_id)

    @staticmethod
    def _batches(
        session: Session, experiment_id: str, metrics: list[str], variant_ids: list[str], limit: int
    ) -> tuple[int, list[BatchView]]:
        """The newest `limit` batches and the metrics each holds (read from those batches' points only, unless the
        experiment has a single metric)."""
        total = session.execute(
            sa.select(func.count()).where(col(ResultBatch.experiment_id) == experiment_id)
        ).scalar_one()
        rows = session.exec(
            select(ResultBatch)
            .where(ResultBatch.experiment_id == experiment_id)
            .order_by(col(ResultBatch.id).desc())
            .limit(limit)
        ).all()
        ids = [b.id for b in rows if b.id is not None]
        # One metric in the whole experiment: every batch holds it (a batch has at least one point), no read needed.
        held = (
            {i: list(metrics) for i in ids} if len(metrics) == 1 else results.batch_metrics(session.connection(), ids)
        )
        return total, [
            BatchView(
                id=b.id or 0,
                logged_by=b.created_by,
                logged_at=b.created_at,
                points=b.point_count,
                digest=b.digest,
                metrics=held.get(b.id or 0, []),
                excluded=b.excluded_at is not None,
                excluded_by=b.excluded_by,
                excluded_at=b.excluded_at,
                exclusion_reason=b.exclusion_reason,
            )
            for b in rows
        ]

    # ---- a chart's sample ------------------------------------------------------------------------

    def sample(self, experiment_id: str, metric: str | None = None, limit: int = 200) -> MeasurementSample:
        """At most `limit` measurements of `metric` (the objective by default) per variant, and box-plot quartiles.

        The sample is deterministic (store/results.py `sample`): points at stratified positions over the counted
        batches, fetched by primary key, a few per value wanted, so its cost does not grow with the experiment; a
        variant the probes missed (few points among many) is topped up with a bounded query, so every variant with
        points appears, and one with at most `limit` points gives all of them; points of excluded batches are left
        out, as the comparison leaves them out. The quartiles are computed in Python from the sample (exact when
        the sample is every point, `exact`; otherwise estimates); min and max are over every point, from the
        comparison.
        """
        comparison = self.experiments.compare(CompareExperiment(experiment_id=experiment_id, metric=metric))
        with self.ctx.db.read() as session:
            return self._sample(session, experiment_id, comparison, limit)

    def sample_of(self, comparison: Comparison, limit: int = 200) -> MeasurementSample:
        """The chart sample of a comparison the caller already holds (`detail` with `sample_limit=0`, then this):
        no second comparison over every point. The review console calls it only when its cached sample is out of
        date."""
        with self.ctx.db.read() as session:
            return self._sample(session, comparison.experiment_id, comparison, limit)

    def _sample(self, session: Session, experiment_id: str, comparison: Comparison, limit: int) -> MeasurementSample:
        if not 1 <= limit <= MAX_SAMPLE:
            raise InvalidInput(f"limit: {limit} values per variant is outside 1 to {MAX_SAMPLE}")
        sizes = {row.variant_id: row.n for row in comparison.variants}
        values_of = results.sample(session.connection(), experiment_id, comparison.metric, sizes, limit)
        out = []
        for row in sorted(comparison.variants, key=lambda r: r.variant_id):
            values = values_of.get(row.variant_id, [])
            ordered = sorted(values)
            out.append(
                VariantSample(
                    variant_id=row.variant_id,
                    name=row.name,
                    n=row.n,
                    values=values,
                    exact=len(values) == row.n,
                    min=row.min,
                    q1=_quantile(ordered, 0.25) if ordered else None,
                    median=_quantile(ordered, 0.5) if ordered else None,
                    q3=_quantile(ordered, 0.75) if ordered else None,
                    max=row.max,
                )
            )
        order = {r.variant_id: i for i, r in enumerate(comparison.variants)}
        out.sort(key=lambda s: order[s.variant_id])  # ranked, as the comparison lists them
        return MeasurementSample(experiment_id=experiment_id, metric=comparison.metric, limit=limit, variants=out)

    # ---- export ------------------------------------------------------------------------------------

    def export(self, experiment_id: str) -> ExperimentExport:
        """Every variant with its configuration and its statistics for every measured metric (objective first);
        `app/export.py` writes it as JSON or CSV."""
        with self.ctx.db.read() as session:
            experiment = find(session, Experiment, "experiment", experiment_id, "experiment_id")
            variants = session.exec(
                select(Variant).where(Variant.experiment_id == experiment.id).order_by(col(Variant.id))
            ).all()
            metrics = self._metrics(session, experiment.id)
        ordered = [experiment.objective_metric, *[name for name in metrics if name != experiment.objective_metric]]
        comparisons = [
            self.experiments.compare(CompareExperiment(experiment_id=experiment.id, metric=name))
            for name in ordered
            if name in metrics
        ]
        stats = {
            (c.metric, row.variant_id): row.model_dump(exclude={"variant_id", "name"})
            for c in comparisons
            for row in c.variants
            if row.n  # a metric this variant has no measurement of is left out, not written as zeros
        }
        return ExperimentExport(
            experiment=experiment_view(experiment),
            comparisons=comparisons,
            variants=[
                ExportVariant(
                    variant=variant_view(v),
                    stats={c.metric: stats[(c.metric, v.id)] for c in comparisons if (c.metric, v.id) in stats},
                )
                for v in variants
            ],
        )
