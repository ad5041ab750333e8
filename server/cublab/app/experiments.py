"""Steps 2 and 3 of the seed's agent workflow: experiments, their variants and results, and the comparison.

An experiment runs in a live sandbox; once the sandbox expires or is destroyed it
stays readable and accepts nothing new. Every mutation runs in one write
transaction with its audit event.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cublab.app.batches import excluded_batches, excluded_in_words
from cublab.app.common import check_id, existing, find, newest_first
from cublab.app.context import AppContext
from cublab.app.expiry import sandbox_status
from cublab.app.guards import parse_config, refuse_secrets, refuse_secrets_in_text
from cublab.app.inputs import (
    MAX_ABS_VALUE,
    CompareExperiment,
    CreateExperiment,
    ExperimentRef,
    ListExperiments,
    LogResults,
    LogVariant,
)
from cublab.app.outputs import (
    Comparison,
    ExperimentLog,
    ExperimentPage,
    ExperimentView,
    MetricCount,
    ResultsLogged,
    VariantLogged,
    VariantStats,
)
from cublab.app.ownership import check_owner
from cublab.app.quotas import enforce
from cublab.app.sandboxes import Sandboxes
from cublab.app.views import experiment_view, variant_view
from cublab.domain import stats
from cublab.domain.canonical import canonical_json, content_hash
from cublab.domain.errors import Conflict, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.pointers import pointer
from cublab.store.db import insert_many
from cublab.store.tables import Experiment, Measurement, ResultBatch, Sandbox, Variant, table_of

_measurements = table_of(Measurement)
_MEASUREMENT_COLUMNS = ("experiment_id", "batch_id", "variant_id", "metric", "value", "step", "repetition")


def not_in_batches(excluded: Collection[int]) -> tuple[sa.ColumnElement[bool], ...]:
    """The condition that leaves excluded batches' points out (app/batches.py); none when nothing is excluded,
    so the covering index answers the usual comparison alone."""
    return (_measurements.c.batch_id.not_in(list(excluded)),) if excluded else ()


def writable(experiment: Experiment, actor: Identity, doing: str) -> None:
    """Only the experiment's owner writes to it (app/ownership.py)."""
    check_owner(experiment.owner, actor, what="experiment", object_id=experiment.id, field="experiment_id", doing=doing)


class Experiments:
    def __init__(self, ctx: AppContext, sandboxes: Sandboxes) -> None:
        self.ctx = ctx
        self.sandboxes = sandboxes

    def create(self, cmd: CreateExperiment, actor: Identity) -> ExperimentView:
        refuse_secrets_in_text(
            name=cmd.name,
            hypothesis=cmd.hypothesis,
            objective_metric=cmd.objective_metric,
            target_space=cmd.target_space,
            target_unit=cmd.target_unit,
            explanation=cmd.explanation,
        )
        with self.ctx.db.write() as session:
            sandbox = self.sandboxes.live(session, cmd.sandbox_id, "new experiments", actor, "add experiments to it")
            experiment = Experiment(
                id=new_id("experiment"),
                sandbox_id=cmd.sandbox_id,
                name=cmd.name,
                hypothesis=cmd.hypothesis,
                objective_metric=cmd.objective_metric,
                direction=cmd.direction,
                target_space=cmd.target_space,
                target_unit=cmd.target_unit,
                owner=sandbox.owner,
                created_by=str(actor),
                created_at=self.ctx.clock(),
            )
            session.add(experiment)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "experiment.create",
                "experiment",
                experiment.id,
                related={"sandbox_id": cmd.sandbox_id},
                explanation=cmd.explanation,
                details={"name": cmd.name, "objective": cmd.objective_metric, "direction": cmd.direction},
            )
        return experiment_view(experiment)

    def get(self, cmd: ExperimentRef) -> ExperimentLog:
        with self.ctx.db.read() as session:
            experiment = find(session, Experiment, "experiment", cmd.experiment_id, "experiment_id")
            sandbox = existing(session, Sandbox, experiment.sandbox_id)
            variants = session.exec(
                select(Variant).where(Variant.experiment_id == experiment.id).order_by(col(Variant.id))
            ).all()
            m = _measurements.c
            counts = (
                session.connection()
                .execute(
                    sa.select(m.variant_id, m.metric, func.count())
                    .where(m.experiment_id == experiment.id)
                    .group_by(m.variant_id, m.metric)
                    .order_by(m.variant_id, m.metric)
                )
                .all()
            )
        return ExperimentLog(
            experiment=experiment_view(experiment),
            sandbox_status=sandbox_status(sandbox.status, sandbox.expires_at, self.ctx.clock()),
            variants=[variant_view(v) for v in variants],
            measurements=[MetricCount(variant_id=v, metric=metric, n=n) for v, metric, n in counts],
        )

    def log_variant(self, cmd: LogVariant, actor: Identity) -> VariantLogged:
        config = parse_config(cmd.config)
        refuse_secrets("config", config)
        refuse_secrets_in_text(name=cmd.name, description=cmd.description, explanation=cmd.explanation)
        digest = content_hash(config)
        for attempt in range(2):
            try:
                with self.ctx.db.write() as session:
                    experiment = find(session, Experiment, "experiment", cmd.experiment_id, "experiment_id")
                    writable(experiment, actor, "log variants to it")
                    self.sandboxes.live(session, experiment.sandbox_id, "new variants")
                    same = session.exec(
                        select(Variant).where(
                            Variant.experiment_id == cmd.experiment_id, Variant.content_hash == digest
                        )
                    ).first()
                    if same is not None:
                        return VariantLogged(
                            variant=variant_view(same),
                            duplicate=True,
                            message=f"this configuration was already logged as {same.id} ({same.name!r}); nothing new was stored",
                        )
                    clash = session.exec(
                        select(Variant.id).where(Variant.experiment_id == cmd.experiment_id, Variant.name == cmd.name)
                    ).first()
                    if clash is not None:
                        raise Conflict(
                            f"name: {cmd.name!r} already names variant {clash} in this experiment with a different configuration; choose another name"
                        )
                    enforce(self.ctx, session, actor, "variants_per_experiment", experiment_id=cmd.experiment_id)
                    variant = Variant(
                        id=new_id("variant"),
                        experiment_id=cmd.experiment_id,
                        name=cmd.name,
                        description=cmd.description,
                        config_json=canonical_json(config),
                        content_hash=digest,
                        created_by=str(actor),
                        created_at=self.ctx.clock(),
                    )
                    session.add(variant)
                    session.flush()
                    self.ctx.record(
                        session,
                        actor,
                        "variant.log",
                        "variant",
                        variant.id,
                        related={"experiment_id": cmd.experiment_id},
                        explanation=cmd.explanation,
                        details={"name": cmd.name, "content_hash": digest},
                    )
                return VariantLogged(
                    variant=variant_view(variant), duplicate=False, message=f"logged variant {variant.id}"
                )
            except IntegrityError:
                if attempt:  # a concurrent writer won twice: report, do not loop
                    raise Conflict(
                        "variant: another agent logged a variant with this name or content at the same moment; call again"
                    ) from None
        raise AssertionError("unreachable")

    def log_results(self, cmd: LogResults, actor: Identity) -> ResultsLogged:
        # Metric names are stored too; a batch has only a handful of distinct ones to check.
        first: dict[str, int] = {}
        for n, point in enumerate(cmd.points):
            first.setdefault(point.metric, n)
        refuse_secrets_in_text(
            {pointer(("points", n, "metric")): metric for metric, n in first.items()}, explanation=cmd.explanation
        )
        with self.ctx.db.write() as session:
            experiment = find(session, Experiment, "experiment", cmd.experiment_id, "experiment_id")
            writable(experiment, actor, "log results to it")
            self.sandboxes.live(session, experiment.sandbox_id, "new results")
            enforce(self.ctx, session, actor, "points_per_hour", adding=len(cmd.points))
            known = session.exec(select(Variant.id, Variant.name).where(Variant.experiment_id == experiment.id)).all()
            resolve = {vid: vid for vid, _ in known} | {name: vid for vid, name in known}
            experiment_id = experiment.id  # an ORM attribute: read once, not once per point
            try:
                points = [(resolve[p.variant], p.metric, p.value, p.step, p.repetition) for p in cmd.points]
            except KeyError:
                n, bad = next((n, p.variant) for n, p in enumerate(cmd.points) if p.variant not in resolve)
                raise NotFound(
                    f"points[{n}].variant: {bad[:70]!r} is neither the id nor the name of a variant of experiment {experiment_id}"
                ) from None
            by_variant = dict(Counter(p[0] for p in points))
            # The digest covers the rows as stored (json.dumps writes floats exactly, by repr), once per batch.
            digest = "sha256:" + hashlib.sha256(json.dumps(points, separators=(",", ":")).encode()).hexdigest()
            batch = ResultBatch(
                experiment_id=experiment_id,
                point_count=len(points),
                digest=digest,
                created_by=str(actor),
                created_at=self.ctx.clock(),
            )
            session.add(batch)
            session.flush()
            assert batch.id is not None  # the flush assigned it
            batch_id = batch.id
            rows = [(experiment_id, batch_id, *p) for p in points]
            insert_many(session.connection(), _measurements, _MEASUREMENT_COLUMNS, rows)
            self.ctx.record(
                session,
                actor,
                "result.log",
                "result_batch",
                str(batch_id),
                related={"experiment_id": experiment_id},
                explanation=cmd.explanation,
                details={"points": len(rows), "by_variant": by_variant, "digest": digest},
            )
        return ResultsLogged(
            experiment_id=experiment_id, batch_id=batch_id, points=len(rows), by_variant=by_variant, digest=digest
        )

    def _summaries(
        self, session: Session, experiment_id: str, metric: str, excluded: Collection[int] = ()
    ) -> dict[str, stats.Summary]:
        m = _measurements.c
        where = (m.experiment_id == experiment_id, m.metric == metric, *not_in_batches(excluded))
        conn = session.connection()
        rows = conn.execute(
            sa.select(
                m.variant_id,
                func.count(),
                func.avg(m.value),
                func.min(m.value),
                func.max(m.value),
                func.sum(m.value * m.value),
            )
            .where(*where)
            .group_by(m.variant_id)
        ).all()
        result = {}
        for variant_id, n, mean, lo, hi, sumsq in rows:
            summary = stats.summary_from_shifted(n, lo, hi, shift=0.0, sum_d=mean * n, sum_d2=sumsq)
            spread = (summary.stddev or 0.0) ** 2
            if n > 1 and (spread == 0.0 or mean * mean / spread > 1e8):
                # Large mean, small spread: one-pass sums lose digits. Recompute around the mean.
                d = m.value - mean
                sum_d, sum_d2 = conn.execute(
                    sa.select(func.sum(d), func.sum(d * d)).where(*where, m.variant_id == variant_id)
                ).one()
                summary = stats.summary_from_shifted(n, lo, hi, shift=mean, sum_d=sum_d, sum_d2=sum_d2)
            result[variant_id] = summary
        return result

    def _finite_summaries(
        self, session: Session, experiment_id: str, metric: str, excluded: Collection[int] = ()
    ) -> dict[str, stats.Summary]:
        """The summaries, or a Conflict when values stored before the ±1e15 limit overflow them (an out-of-range
        error in PostgreSQL's float8 arithmetic, an infinity from SQLite's): the same answer on both backends,
        naming the batches that hold such values, which a human can exclude."""
        try:
            summaries = self._summaries(session, experiment_id, metric, excluded)
        except (ArithmeticError, ValueError):  # infinities from SQLite reaching math.sqrt
            raise self._too_large(experiment_id, metric, excluded) from None
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == "22003":  # numeric_value_out_of_range
                raise self._too_large(experiment_id, metric, excluded) from None
            raise
        for s in summaries.values():
            if not all(math.isfinite(v) for v in (s.mean, s.stddev or 0.0, s.minimum, s.maximum)):
                raise self._too_large(experiment_id, metric, excluded)
        return summaries

    def _too_large(self, experiment_id: str, metric: str, excluded: Collection[int]) -> Conflict:
        """The Conflict naming the batches that hold values over the limit. Read on a connection of its own:
        after the overflow PostgreSQL refuses every statement in the comparison's transaction."""
        m = _measurements.c
        with self.ctx.db.engine.connect() as conn:
            batches = conn.execute(
                sa.select(m.batch_id)
                .where(
                    m.experiment_id == experiment_id,
                    m.metric == metric,
                    func.abs(m.value) > MAX_ABS_VALUE,
                    *not_in_batches(excluded),
                )
                .distinct()
                .order_by(m.batch_id)
            ).all()
        named = ", ".join(str(b) for (b,) in batches) or "unknown"
        return Conflict(
            f"metric: the {metric!r} values of experiment {experiment_id} are too large to compare (some were logged "
            f"before values were limited to ±{MAX_ABS_VALUE:g}, in result batch(es) {named}); a human can leave such a "
            'batch out with `cublab results exclude BATCH --reason "..."`, or log the measurements again in a new experiment'
        )

    def compare(self, cmd: CompareExperiment) -> Comparison:
        cfg = self.ctx.policy.policy.compare
        with self.ctx.db.read() as session:
            experiment = find(session, Experiment, "experiment", cmd.experiment_id, "experiment_id")
            metric = cmd.metric or experiment.objective_metric
            variants = session.exec(
                select(Variant.id, Variant.name).where(Variant.experiment_id == experiment.id).order_by(col(Variant.id))
            ).all()
            excluded = excluded_batches(session, experiment.id)
            summaries = self._finite_summaries(session, experiment.id, metric, [b.batch_id for b in excluded])
        comparison = build_comparison(experiment, metric, dict(variants), summaries, cfg.min_samples, cfg.confidence)
        if not excluded:
            return comparison
        return comparison.model_copy(
            update={"excluded_batches": excluded, "summary": comparison.summary + excluded_in_words(excluded)}
        )

    def list(self, cmd: ListExperiments) -> ExperimentPage:
        where = (
            [col(Experiment.sandbox_id) == check_id("sandbox", cmd.sandbox_id, "sandbox_id")] if cmd.sandbox_id else []
        )
        with self.ctx.db.read() as session:
            page, next_cursor = newest_first(session, Experiment, "experiment", cmd.cursor, cmd.limit, *where)
        return ExperimentPage(experiments=[experiment_view(e) for e in page], next_cursor=next_cursor)


def build_comparison(
    experiment: Experiment,
    metric: str,
    names: dict[str, str],
    summaries: dict[str, stats.Summary],
    min_samples: int,
    level: float,
) -> Comparison:
    """Rank, test the leader against the runner-up, and say in words what follows."""
    sign = 1.0 if experiment.direction == "minimize" else -1.0
    measured = sorted(summaries, key=lambda v: (sign * summaries[v].mean, v))
    ranked = [*measured, *[v for v in names if v not in summaries]]
    rows = []
    for vid in ranked:
        s = summaries.get(vid)
        ci = stats.confidence_interval(s, level) if s else None
        rows.append(
            VariantStats(
                rank=(measured.index(vid) + 1) if s else None,
                variant_id=vid,
                name=names.get(vid, vid),
                n=s.n if s else 0,
                mean=s.mean if s else None,
                stddev=s.stddev if s else None,
                min=s.minimum if s else None,
                max=s.maximum if s else None,
                ci_low=ci[0] if ci else None,
                ci_high=ci[1] if ci else None,
            )
        )
    leader = measured[0] if measured else None
    runner_up = measured[1] if len(measured) > 1 else None
    short = [v for v in measured if summaries[v].n < min_samples]
    p_value = None
    if leader is None or runner_up is None:
        verdict = "not_enough_data"
        summary = f"{len(measured)} variant(s) have {metric!r} results; a comparison needs at least two with {min_samples} points each"
    elif short:
        verdict = "not_enough_data"
        need = ", ".join(f"{names.get(v, v)} ({summaries[v].n})" for v in short)
        summary = (
            f"not enough data: every measured variant needs at least {min_samples} points of {metric!r}; short: {need}"
        )
    else:
        test = stats.welch_t_test(summaries[leader], summaries[runner_up])
        p_value = test.p_value if test else None
        significant = p_value is not None and p_value < 1.0 - level
        verdict = "winner" if significant else "no_significant_difference"
        a, b = names.get(leader, leader), names.get(runner_up, runner_up)
        if significant:
            summary = f"{a} wins on {metric} ({experiment.direction}): mean {summaries[leader].mean:.6g} vs {summaries[runner_up].mean:.6g} for {b}, p = {p_value:.3g}"
        else:
            summary = f"{a} leads on {metric} but is not significantly better than {b} (p = {p_value:.3g}, needs < {1 - level:.3g}); collect more data"
    return Comparison(
        experiment_id=experiment.id,
        metric=metric,
        direction=experiment.direction,
        is_objective=metric == experiment.objective_metric,
        verdict=verdict,
        winner=leader if verdict == "winner" else None,
        leader=leader,
        runner_up=runner_up,
        p_value=p_value,
        confidence=(1.0 - p_value) if p_value is not None else None,
        confidence_level=level,
        min_samples=min_samples,
        summary=summary,
        variants=rows,
    )
