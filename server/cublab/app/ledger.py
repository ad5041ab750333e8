"""Steps 1 to 4 of the seed's agent workflow: sandboxes, experiments, variants, results.

Every mutation runs in one write transaction together with its audit event,
and every row and event names the identity that caused it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import yaml
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cublab.app import inputs as i
from cublab.app import outputs as o
from cublab.app.context import AppContext
from cublab.app.guards import refuse_secrets, refuse_secrets_in_text
from cublab.domain import stats
from cublab.domain.bypass import sandbox_eligibility
from cublab.domain.canonical import canonical_json, content_hash
from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import Conflict, InvalidInput, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import PREFIXES, is_id_of, new_id
from cublab.store import audit
from cublab.store.db import insert_many, select_one
from cublab.store.tables import Experiment, Measurement, ResultBatch, Sandbox, Variant

_measurements = Measurement.__table__
_MEASUREMENT_COLUMNS = ("experiment_id", "batch_id", "variant_id", "metric", "value", "step", "repetition")


def check_id(kind: str, value: str, field: str) -> str:
    if not is_id_of(kind, value):
        raise InvalidInput(
            f"{field}: {value[:70]!r} is not a {kind} id; {kind} ids look like '{PREFIXES[kind]}_' followed by 26 characters"
        )
    return value


def label_value(name: str) -> str:
    """'Agent-Local Experimentation' -> 'agent-local-experimentation'."""
    return "-".join(name.lower().split())


def effective_status(sandbox: Sandbox, now: datetime) -> str:
    """Expiry applies on read: an active sandbox past its expiry is expired."""
    if sandbox.status == "active" and sandbox.expires_at <= now:
        return "expired"
    return sandbox.status


class Ledger:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # ---- helpers -------------------------------------------------------------------

    @cached_property
    def _criterion(self) -> o.Criterion:
        """Sandboxes bypass the authority under the seed's criterion 7, as the policy names it."""
        criterion = self.ctx.policy.policy.bypass.criterion(7)
        return o.Criterion(number=criterion.number, name=criterion.name)

    @property
    def _sandbox_policy(self):
        return self.ctx.policy.policy.sandbox

    def _ttl(self, text: str | None, field: str = "ttl", default: timedelta | None = None) -> timedelta:
        limit = self._sandbox_policy.max_ttl
        ttl = parse_duration(text, field) if text is not None else (default or self._sandbox_policy.default_ttl)
        if ttl > limit:
            raise InvalidInput(
                f"{field}: {text} is longer than the policy maximum of {format_duration(limit)}; ask for at most {format_duration(limit)} and renew if you need more"
            )
        return ttl

    def _sandbox(self, session: Session, sandbox_id: str, field: str = "sandbox_id") -> Sandbox:
        check_id("sandbox", sandbox_id, field)
        sandbox = session.get(Sandbox, sandbox_id)
        if sandbox is None:
            raise NotFound(f"{field}: no sandbox {sandbox_id} exists")
        return sandbox

    def _live_sandbox(self, session: Session, sandbox_id: str, doing: str) -> Sandbox:
        sandbox = self._sandbox(session, sandbox_id)
        status = effective_status(sandbox, self.ctx.clock())
        if status != "active":
            raise Conflict(
                f"sandbox_id: sandbox {sandbox_id} is {status}; it refuses {doing}. Spawn a new sandbox to keep experimenting"
            )
        return sandbox

    def _experiment(self, session: Session, experiment_id: str) -> Experiment:
        check_id("experiment", experiment_id, "experiment_id")
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            raise NotFound(f"experiment_id: no experiment {experiment_id} exists")
        return experiment

    def _sandbox_view(self, sandbox: Sandbox) -> o.SandboxView:
        return o.SandboxView(
            id=sandbox.id,
            name=sandbox.name,
            purpose=sandbox.purpose,
            owner=sandbox.owner,
            status=effective_status(sandbox, self.ctx.clock()),
            ttl=format_duration(timedelta(seconds=sandbox.ttl_seconds)),
            labels=sandbox.labels,
            bypass_criterion=self._criterion,
            created_by=sandbox.created_by,
            created_at=sandbox.created_at,
            expires_at=sandbox.expires_at,
            destroyed_at=sandbox.destroyed_at,
        )

    @staticmethod
    def _experiment_view(e: Experiment) -> o.ExperimentView:
        return o.ExperimentView.model_validate(e, from_attributes=True)

    @staticmethod
    def _variant_view(v: Variant) -> o.VariantView:
        return o.VariantView(
            id=v.id,
            experiment_id=v.experiment_id,
            name=v.name,
            description=v.description,
            config=json.loads(v.config_json),
            content_hash=v.content_hash,
            created_by=v.created_by,
            created_at=v.created_at,
        )

    # ---- sandboxes -------------------------------------------------------------------

    def spawn_sandbox(self, cmd: i.SpawnSandbox, actor: Identity) -> o.SandboxView:
        refuse_secrets_in_text(name=cmd.name, purpose=cmd.purpose, context=cmd.context)  # the context is audited
        refuse_secrets("labels", cmd.labels)
        ttl = self._ttl(cmd.ttl)
        eligibility = sandbox_eligibility(
            self.ctx.policy.policy.bypass, ttl=ttl, context=cmd.context, labels=cmd.labels, name=cmd.name
        )
        if not eligibility.eligible:
            raise Conflict("; ".join(eligibility.problems))
        now = self.ctx.clock()
        labels = dict(cmd.labels)
        labels.update(
            {
                "ephemeral": "true",
                "ttl": format_duration(ttl),
                "bypass-confighub": "true",
                "bypass-criterion": label_value(self._criterion.name),
            }
        )
        sandbox = Sandbox(
            id=new_id("sandbox"),
            name=cmd.name,
            purpose=cmd.purpose,
            owner=str(actor),
            ttl_seconds=int(ttl.total_seconds()),
            labels=labels,
            status="active",
            created_by=str(actor),
            created_at=now,
            expires_at=now + ttl,
            destroyed_at=None,
        )
        with self.ctx.db.write() as session:
            session.add(sandbox)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "sandbox.spawn",
                "sandbox",
                sandbox.id,
                explanation=cmd.explanation,
                details={
                    "name": cmd.name,
                    "ttl": labels["ttl"],
                    "expires_at": audit.iso(sandbox.expires_at),
                    "criterion": 7,
                    "context": cmd.context,
                    "policy": self.ctx.policy.digest,
                },
            )
        return self._sandbox_view(sandbox)

    def get_sandbox(self, cmd: i.SandboxRef) -> o.SandboxView:
        """The hottest read goes straight through the driver (store.db.select_one)."""
        check_id("sandbox", cmd.sandbox_id, "sandbox_id")
        row = select_one(self.ctx.db.engine, Sandbox.__table__, "id", cmd.sandbox_id)
        if row is None:
            raise NotFound(f"sandbox_id: no sandbox {cmd.sandbox_id} exists")
        return self._sandbox_view(SimpleNamespace(**row))  # the view reads attributes only

    def list_sandboxes(self, cmd: i.ListSandboxes) -> o.SandboxPage:
        now = self.ctx.clock()
        query = select(Sandbox).order_by(Sandbox.id.desc()).limit(cmd.limit + 1)
        if cmd.cursor:
            query = query.where(Sandbox.id < check_id("sandbox", cmd.cursor, "cursor"))
        if cmd.status == "active":
            query = query.where(Sandbox.status == "active", Sandbox.expires_at > now)
        elif cmd.status == "expired":
            query = query.where(
                (Sandbox.status == "expired") | ((Sandbox.status == "active") & (Sandbox.expires_at <= now))
            )
        elif cmd.status == "destroyed":
            query = query.where(Sandbox.status == "destroyed")
        with self.ctx.db.read() as session:
            rows = session.exec(query).all()
        page = rows[: cmd.limit]
        return o.SandboxPage(
            sandboxes=[self._sandbox_view(s) for s in page], next_cursor=page[-1].id if len(rows) > cmd.limit else None
        )

    def renew_sandbox(self, cmd: i.RenewSandbox, actor: Identity) -> o.SandboxView:
        with self.ctx.db.write() as session:
            sandbox = self._live_sandbox(session, cmd.sandbox_id, "renewal")
            ttl = self._ttl(cmd.ttl, default=timedelta(seconds=sandbox.ttl_seconds))
            sandbox.ttl_seconds = int(ttl.total_seconds())
            sandbox.expires_at = self.ctx.clock() + ttl
            sandbox.labels = {**sandbox.labels, "ttl": format_duration(ttl)}
            session.add(sandbox)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "sandbox.renew",
                "sandbox",
                sandbox.id,
                explanation=cmd.explanation,
                details={"ttl": format_duration(ttl), "expires_at": audit.iso(sandbox.expires_at)},
            )
        return self._sandbox_view(sandbox)

    def destroy_sandbox(self, cmd: i.DestroySandbox, actor: Identity) -> o.SandboxView:
        """Idempotent: destroying a destroyed sandbox changes nothing and writes no event."""
        with self.ctx.db.write() as session:
            sandbox = self._sandbox(session, cmd.sandbox_id)
            if sandbox.status != "destroyed":
                self.destroy_in(session, sandbox, actor, cmd.explanation)
        return self._sandbox_view(sandbox)

    def destroy_in(self, session: Session, sandbox: Sandbox, actor: Identity, explanation: str | None) -> None:
        """Destroy inside the caller's transaction (promotion destroys a live sandbox before step 5)."""
        was = effective_status(sandbox, self.ctx.clock())
        sandbox.status = "destroyed"
        sandbox.destroyed_at = self.ctx.clock()
        session.add(sandbox)
        session.flush()
        self.ctx.record(
            session, actor, "sandbox.destroy", "sandbox", sandbox.id, explanation=explanation, details={"was": was}
        )

    def reap_sandboxes(self, actor: Identity) -> list[str]:
        """Persist the expiry of every active sandbox past its time; one audit event each."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            due = session.exec(select(Sandbox).where(Sandbox.status == "active", Sandbox.expires_at <= now)).all()
            for sandbox in due:
                sandbox.status = "expired"
                session.add(sandbox)
                session.flush()
                self.ctx.record(
                    session,
                    actor,
                    "sandbox.expire",
                    "sandbox",
                    sandbox.id,
                    details={"expires_at": audit.iso(sandbox.expires_at)},
                )
        return [s.id for s in due]

    # ---- experiments ----------------------------------------------------------------

    def create_experiment(self, cmd: i.CreateExperiment, actor: Identity) -> o.ExperimentView:
        refuse_secrets_in_text(name=cmd.name, hypothesis=cmd.hypothesis, objective_metric=cmd.objective_metric)
        with self.ctx.db.write() as session:
            self._live_sandbox(session, cmd.sandbox_id, "new experiments")
            experiment = Experiment(
                id=new_id("experiment"),
                sandbox_id=cmd.sandbox_id,
                name=cmd.name,
                hypothesis=cmd.hypothesis,
                objective_metric=cmd.objective_metric,
                direction=cmd.direction,
                target_space=cmd.target_space,
                target_unit=cmd.target_unit,
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
        return self._experiment_view(experiment)

    def get_experiment(self, cmd: i.ExperimentRef) -> o.ExperimentLog:
        with self.ctx.db.read() as session:
            experiment = self._experiment(session, cmd.experiment_id)
            sandbox = session.get(Sandbox, experiment.sandbox_id)
            variants = session.exec(
                select(Variant).where(Variant.experiment_id == experiment.id).order_by(Variant.id)
            ).all()
            counts = (
                session.connection()
                .execute(
                    select(_measurements.c.variant_id, _measurements.c.metric, func.count())
                    .where(_measurements.c.experiment_id == experiment.id)
                    .group_by(_measurements.c.variant_id, _measurements.c.metric)
                    .order_by(_measurements.c.variant_id, _measurements.c.metric)
                )
                .all()
            )
        return o.ExperimentLog(
            experiment=self._experiment_view(experiment),
            sandbox_status=effective_status(sandbox, self.ctx.clock()),
            variants=[self._variant_view(v) for v in variants],
            measurements=[o.MetricCount(variant_id=v, metric=m, n=n) for v, m, n in counts],
        )

    def list_experiments(self, cmd: i.ListExperiments) -> o.ExperimentPage:
        query = select(Experiment).order_by(Experiment.id.desc()).limit(cmd.limit + 1)
        if cmd.sandbox_id:
            query = query.where(Experiment.sandbox_id == check_id("sandbox", cmd.sandbox_id, "sandbox_id"))
        if cmd.cursor:
            query = query.where(Experiment.id < check_id("experiment", cmd.cursor, "cursor"))
        with self.ctx.db.read() as session:
            rows = session.exec(query).all()
        page = rows[: cmd.limit]
        return o.ExperimentPage(
            experiments=[self._experiment_view(e) for e in page],
            next_cursor=page[-1].id if len(rows) > cmd.limit else None,
        )

    # ---- variants ---------------------------------------------------------------------

    @staticmethod
    def parse_config(config: dict[str, Any] | str) -> dict[str, Any]:
        """A configuration is a mapping: given as a JSON object, or as YAML text of one."""
        if isinstance(config, str):
            if len(config.encode("utf-8")) > i.MAX_CONFIG_BYTES:
                raise InvalidInput(
                    f"config: {len(config.encode('utf-8')):,} bytes is over the limit of 1 MiB ({i.MAX_CONFIG_BYTES:,} bytes)"
                )
            try:
                parsed = yaml.safe_load(config)
            except yaml.YAMLError as exc:
                raise InvalidInput(
                    f"config: the text is neither a JSON object nor valid YAML ({str(exc).splitlines()[0]})"
                ) from None
            config = parsed
        if not isinstance(config, dict):
            raise InvalidInput(
                f"config: must be a JSON object (a mapping of keys to values), got {type(config).__name__}"
            )
        try:
            size = len(canonical_json(config).encode("utf-8"))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"config: cannot be stored as JSON ({exc}); use strings, numbers, booleans, null, lists and objects"
            ) from None
        if size > i.MAX_CONFIG_BYTES:
            raise InvalidInput(f"config: {size:,} bytes is over the limit of 1 MiB ({i.MAX_CONFIG_BYTES:,} bytes)")
        return config

    def log_variant(self, cmd: i.LogVariant, actor: Identity) -> o.VariantLogged:
        config = self.parse_config(cmd.config)
        refuse_secrets("config", config)
        refuse_secrets_in_text(name=cmd.name, description=cmd.description)
        digest = content_hash(config)
        for attempt in range(2):
            try:
                with self.ctx.db.write() as session:
                    self._live_sandbox(session, self._experiment(session, cmd.experiment_id).sandbox_id, "new variants")
                    same = session.exec(
                        select(Variant).where(
                            Variant.experiment_id == cmd.experiment_id, Variant.content_hash == digest
                        )
                    ).first()
                    if same is not None:
                        return o.VariantLogged(
                            variant=self._variant_view(same),
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
                return o.VariantLogged(
                    variant=self._variant_view(variant), duplicate=False, message=f"logged variant {variant.id}"
                )
            except IntegrityError:
                if attempt:  # a concurrent writer won twice: report, do not loop
                    raise Conflict(
                        "variant: another agent logged a variant with this name or content at the same moment; call again"
                    ) from None
        raise AssertionError("unreachable")

    # ---- results -----------------------------------------------------------------------

    def log_results(self, cmd: i.LogResults, actor: Identity) -> o.ResultsLogged:
        # Metric names are stored too; a batch has only a handful of distinct ones to check.
        first = {}
        for n, point in enumerate(cmd.points):
            first.setdefault(point.metric, n)
        refuse_secrets_in_text(**{f"points[{n}].metric": metric for metric, n in first.items()})
        with self.ctx.db.write() as session:
            experiment = self._experiment(session, cmd.experiment_id)
            self._live_sandbox(session, experiment.sandbox_id, "new results")
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
            batch_id = batch.id
            rows = [(experiment_id, batch_id, *p) for p in points]
            insert_many(session.connection(), _measurements, _MEASUREMENT_COLUMNS, rows)
            self.ctx.record(
                session,
                actor,
                "result.log",
                "result_batch",
                str(batch.id),
                related={"experiment_id": experiment.id},
                explanation=cmd.explanation,
                details={"points": len(rows), "by_variant": by_variant, "digest": digest},
            )
        return o.ResultsLogged(
            experiment_id=experiment.id, batch_id=batch.id, points=len(rows), by_variant=by_variant, digest=digest
        )

    # ---- comparison --------------------------------------------------------------------

    def _summaries(self, session: Session, experiment_id: str, metric: str) -> dict[str, stats.Summary]:
        m = _measurements.c
        where = (m.experiment_id == experiment_id, m.metric == metric)
        conn = session.connection()
        rows = conn.execute(
            select(
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
                    select(func.sum(d), func.sum(d * d)).where(*where, m.variant_id == variant_id)
                ).one()
                summary = stats.summary_from_shifted(n, lo, hi, shift=mean, sum_d=sum_d, sum_d2=sum_d2)
            result[variant_id] = summary
        return result

    def compare(self, cmd: i.CompareExperiment) -> o.Comparison:
        cfg = self.ctx.policy.policy.compare
        with self.ctx.db.read() as session:
            experiment = self._experiment(session, cmd.experiment_id)
            metric = cmd.metric or experiment.objective_metric
            variants = session.exec(
                select(Variant.id, Variant.name).where(Variant.experiment_id == experiment.id).order_by(Variant.id)
            ).all()
            summaries = self._summaries(session, experiment.id, metric)
        return build_comparison(experiment, metric, dict(variants), summaries, cfg.min_samples, cfg.confidence)


def build_comparison(
    experiment: Experiment,
    metric: str,
    names: dict[str, str],
    summaries: dict[str, stats.Summary],
    min_samples: int,
    level: float,
) -> o.Comparison:
    """Rank, test the leader against the runner-up, and say in words what follows."""
    sign = 1.0 if experiment.direction == "minimize" else -1.0
    measured = sorted(summaries, key=lambda v: (sign * summaries[v].mean, v))
    ranked = [*measured, *[v for v in names if v not in summaries]]
    rows = []
    for vid in ranked:
        s = summaries.get(vid)
        ci = stats.confidence_interval(s, level) if s else None
        rows.append(
            o.VariantStats(
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
    if len(measured) < 2:
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
    return o.Comparison(
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
