"""Steps 2 and 3 of the seed's agent workflow: experiments, their variants and results, and the comparison.

An experiment runs in a live sandbox; once the sandbox expires or is destroyed it
stays readable and accepts nothing new. Every mutation runs in one write
transaction with its audit event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from cublab.app.batches import excluded_batches, excluded_in_words
from cublab.app.common import check_id, existing, find, newest_rows
from cublab.app.context import AppContext
from cublab.app.errors import LeaveTheLoop
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
from cublab.domain import points, stats
from cublab.domain.canonical import canonical_json, content_hash
from cublab.domain.errors import Conflict, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.pointers import pointer
from cublab.store import results
from cublab.store.tables import Experiment, Sandbox, Variant, table_of

_experiments = table_of(Experiment)


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
            counts = results.counts(session.connection(), experiment.id)
        return ExperimentLog(
            experiment=experiment_view(experiment),
            sandbox_status=sandbox_status(sandbox.status, sandbox.expires_at, self.ctx.clock()),
            variants=[variant_view(v) for v in variants],
            measurements=[MetricCount(variant_id=v, metric=metric, n=n) for v, metric, n in counts],
        )

    def log_variant(self, cmd: LogVariant, actor: Identity) -> VariantLogged:
        config = parse_config(cmd.configuration, "configuration")
        refuse_secrets("configuration", config)
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
        """One batch: its points, the running summaries of the series it touches, and its audit event, in one
        transaction. The points were validated once, as plain dicts (app/inputs.py `Point`); from here they are
        columns (domain/points.py), and every write goes through the driver (store/results.py)."""
        batch = points.columns(cmd.points)
        # Metric names are stored too; a batch has only a handful of distinct ones to check.
        refuse_secrets_in_text(
            {pointer(("points", batch.first_point(k), "metric")): metric for k, (_, metric) in enumerate(batch.series)},
            explanation=cmd.explanation,
        )
        check_id("experiment", cmd.experiment_id, "experiment_id")
        with self.ctx.db.write() as session:
            conn = session.connection()
            experiment_id = cmd.experiment_id
            target = results.target(conn, experiment_id)  # through the driver: the ORM costs more than the reads
            if target is None:
                raise NotFound(f"experiment_id: no experiment {experiment_id} exists")
            check_owner(
                target.owner,
                actor,
                what="experiment",
                object_id=experiment_id,
                field="experiment_id",
                doing="log results to it",
            )
            self.sandboxes.refuse_unless_active(
                target.sandbox_id, target.sandbox_status, target.sandbox_expires_at, "new results"
            )
            enforce(self.ctx, session, actor, "points_per_hour", adding=len(batch))
            resolve = target.variants
            for k, (variant, _) in enumerate(batch.series):
                if variant not in resolve:
                    raise NotFound(
                        f"points[{batch.first_point(k)}].variant: {variant[:70]!r} is neither the id nor the name of a "
                        f"variant of experiment {experiment_id}"
                    )
            batch = batch.renamed([(resolve[variant], metric) for variant, metric in batch.series])
            digest = points.digest(batch)
            batch_id = results.insert_batch(
                conn, experiment_id, len(batch), digest, str(actor), actor.principal, self.ctx.clock()
            )
            parts = {
                series: stats.moments(values) for series, values in zip(batch.series, batch.by_series(), strict=True)
            }
            ids = results.merge_series(conn, experiment_id, parts)
            series_ids = [ids[series] for series in batch.series]
            results.insert_points(
                conn,
                results.PointColumns(
                    batch_id,
                    list(map(series_ids.__getitem__, batch.index)),
                    batch.values,
                    batch.steps,
                    batch.repetitions,
                ),
            )
            by_variant: dict[str, int] = {}
            for (variant, _), part in parts.items():
                by_variant[variant] = by_variant.get(variant, 0) + part.n
            self.ctx.record(
                session,
                actor,
                "result.log",
                "result_batch",
                str(batch_id),
                related={"experiment_id": experiment_id},
                explanation=cmd.explanation,
                details={"points": len(batch), "by_variant": by_variant, "digest": digest},
            )
        return ResultsLogged(
            experiment_id=experiment_id, batch_id=batch_id, points=len(batch), by_variant=by_variant, digest=digest
        )

    def compare(self, cmd: CompareExperiment) -> Comparison:
        """One row per variant from the running summaries (two queries through the driver, whatever the number of
        points), or a Conflict when values stored before the ±1e15 limit overflowed them."""
        cfg = self.ctx.policy.policy.compare
        check_id("experiment", cmd.experiment_id, "experiment_id")
        with self.ctx.db.read() as session:
            found = results.compared(session.connection(), cmd.experiment_id, cmd.metric)
        if found is None:
            raise NotFound(f"experiment_id: no experiment {cmd.experiment_id} exists")
        metric = cmd.metric or found.objective_metric
        try:
            summaries = {v: m.summary() for v, m in found.moments.items()}
        except (ArithmeticError, ValueError):  # an infinite M2 reaching math.sqrt
            summaries = None
        if summaries is None or not all(
            math.isfinite(v) for s in summaries.values() for v in (s.mean, s.stddev or 0.0, s.minimum, s.maximum)
        ):
            raise self._too_large(cmd.experiment_id, metric)
        head = ExperimentHead(cmd.experiment_id, found.objective_metric, found.direction)
        comparison = build_comparison(head, metric, dict(found.variants), summaries, cfg.min_samples, cfg.confidence)
        if not found.has_excluded:
            return comparison
        with self.ctx.db.read() as session:
            excluded = excluded_batches(session, cmd.experiment_id)
        return comparison.model_copy(
            update={"excluded_batches": excluded, "summary": comparison.summary + excluded_in_words(excluded)}
        )

    def _too_large(self, experiment_id: str, metric: str) -> Conflict:
        """The Conflict naming the batches that hold values over the limit (logged before it existed), which a human
        can exclude. Finding them scans the points: not on the event loop."""
        if self.ctx.db.is_reader:
            raise LeaveTheLoop("naming the batches over the limit scans the measurements")
        with self.ctx.db.read() as session:
            batches = results.batches_over(session.connection(), experiment_id, metric, MAX_ABS_VALUE)
        named = ", ".join(str(b) for b in batches) or "unknown"
        return Conflict(
            f"metric: the {metric!r} values of experiment {experiment_id} are too large to compare (some were logged "
            f"before values were limited to ±{MAX_ABS_VALUE:g}, in result batch(es) {named}); a human can leave such a "
            'batch out with `cublab results exclude BATCH --reason "..."`, or log the measurements again in a new experiment'
        )

    def verify_summaries(self, experiment_id: str | None = None) -> list[SummaryCheck]:
        """Recompute every series' summary from its measurements (math.fsum) and compare it with the running one
        compare reads; one check per experiment, each naming the series that differ. Reads only: a human decides."""
        with self.ctx.db.read() as session:
            conn = session.connection()
            if experiment_id is not None:
                ids = [find(session, Experiment, "experiment", experiment_id, "experiment_id").id]
            else:
                ids = results.experiment_ids(conn)
            return [_check_experiment(conn, eid) for eid in ids]

    def list(self, cmd: ListExperiments) -> ExperimentPage:
        where = (
            [_experiments.c.sandbox_id == check_id("sandbox", cmd.sandbox_id, "sandbox_id")] if cmd.sandbox_id else []
        )
        with self.ctx.db.read() as session:
            page, next_cursor = newest_rows(session, _experiments, "experiment", cmd.cursor, cmd.limit, *where)
        return ExperimentPage(experiments=[experiment_view(cast(Experiment, e)) for e in page], next_cursor=next_cursor)


@dataclass(frozen=True)
class SummaryCheck:
    """One experiment's running summaries against a recomputation: `differences` is empty when they agree."""

    experiment_id: str
    series: int
    points: int
    differences: list[str]


def _agree(kept: stats.Moments, fresh: stats.Moments) -> bool:
    """Equal counts and extremes; mean and standard deviation equal within float tolerance (the running values
    are merged batch by batch, so they may differ from a one-pass recomputation in the last digits)."""
    if (kept.n, kept.minimum, kept.maximum) != (fresh.n, fresh.minimum, fresh.maximum):
        return False
    if kept.n == 0:
        return True
    scale = max(abs(fresh.minimum or 0.0), abs(fresh.maximum or 0.0), 1e-300)
    a, b = kept.summary(), fresh.summary()
    return math.isclose(a.mean, b.mean, rel_tol=1e-9, abs_tol=1e-12 * scale) and (
        (a.stddev is None and b.stddev is None)
        or (
            a.stddev is not None
            and b.stddev is not None
            and math.isclose(a.stddev, b.stddev, rel_tol=1e-9, abs_tol=1e-9 * scale)
        )
    )


def _describe(m: stats.Moments) -> str:
    if m.n == 0:
        return "no points"
    s = m.summary()
    return f"n={s.n} mean={s.mean!r} stddev={s.stddev!r} min={s.minimum!r} max={s.maximum!r}"


def _check_experiment(conn: Connection, experiment_id: str) -> SummaryCheck:
    kept = results.stored(conn, experiment_id)
    fresh = results.recompute(conn, experiment_id)
    differences = []
    for (variant_id, metric), (series_id, moments) in sorted(kept.items(), key=lambda item: (item[0][1], item[0][0])):
        recomputed = fresh.pop(series_id, stats.EMPTY)
        if not _agree(moments, recomputed):
            differences.append(
                f"{metric!r} of {variant_id}: summary says {_describe(moments)}; "
                f"the measurements say {_describe(recomputed)}"
            )
    for series_id, moments in sorted(fresh.items()):
        differences.append(f"series {series_id}: {moments.n} measurement(s) but no summary row")
    return SummaryCheck(experiment_id, len(kept), sum(m.n for _, m in kept.values()), differences)


@dataclass(frozen=True)
class ExperimentHead:
    """What a comparison says about its experiment."""

    id: str
    objective_metric: str
    direction: str


def build_comparison(
    experiment: ExperimentHead,
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
