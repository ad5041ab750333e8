"""A way out of a bad result batch: a human excludes it from comparisons, and can take that back.

A batch that should never have been logged (a broken load generator, the wrong
variant, values logged before the ±1e15 limit that overflow every statistic) would
otherwise decide, or block, every comparison and promotion of its experiment. The
rows are never deleted: the batch is marked (who, when, why) in its own row, the
mark is audited, and `experiment_compare` and `variant_promote` leave its points
out and list it in their answers: the running summaries of the series the batch
touches are recomputed from the points that count, in the same transaction. Only humans decide this, like every decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from cublab.app.context import AppContext
from cublab.app.guards import refuse_secrets_in_text
from cublab.app.outputs import ExcludedBatch
from cublab.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from cublab.domain.identity import Identity
from cublab.domain.text import has_visible_text
from cublab.store import results
from cublab.store.tables import ResultBatch

MAX_REASON = 4000


def excluded_batches(session: Session, experiment_id: str) -> list[ExcludedBatch]:
    """The experiment's excluded batches, oldest first: what a comparison leaves out and says it left out."""
    rows = session.exec(
        select(ResultBatch)
        .where(ResultBatch.experiment_id == experiment_id, col(ResultBatch.excluded_at).is_not(None))
        .order_by(col(ResultBatch.id))
    ).all()
    return [_view(b) for b in rows]


def excluded_in_words(excluded: Sequence[ExcludedBatch]) -> str:
    """What a comparison's summary adds, so a model that reads only text knows too."""
    if not excluded:
        return ""
    points = sum(b.points for b in excluded)
    listed = "; ".join(f"batch {b.batch_id} by {b.excluded_by}: {b.reason}" for b in excluded)
    return f" ({len(excluded)} result batch(es), {points} point(s), excluded by humans and not counted: {listed})"


def _view(batch: ResultBatch) -> ExcludedBatch:
    assert batch.id is not None and batch.excluded_at is not None and batch.excluded_by is not None
    return ExcludedBatch(
        batch_id=batch.id,
        experiment_id=batch.experiment_id,
        points=batch.point_count,
        excluded_by=batch.excluded_by,
        excluded_at=batch.excluded_at,
        reason=batch.exclusion_reason or "",
    )


class Batches:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _checked(self, batch_id: int, reason: str, who: Identity, doing: str) -> None:
        if not who.is_human:
            raise Forbidden(f"as: result batches are {doing} by humans; {who} is not 'human:<name>'")
        if not has_visible_text(reason):
            raise InvalidInput(f"reason: a batch is {doing} with a reason in visible text; it is recorded")
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"reason: {len(reason)} characters; the limit is {MAX_REASON}")
        refuse_secrets_in_text(reason=reason)
        if batch_id < 1:
            raise InvalidInput(f"batch: {batch_id} is not a batch id (result_log answers with a positive batch_id)")

    def _find(self, session: Session, batch_id: int) -> ResultBatch:
        if batch_id > 2**31 - 1:  # the column is a 32-bit integer on PostgreSQL
            raise NotFound(f"batch: no result batch {batch_id} exists")
        batch = session.get(ResultBatch, batch_id)
        if batch is None:
            raise NotFound(f"batch: no result batch {batch_id} exists")
        return batch

    def exclude_batch(self, batch_id: int, reason: str, who: Identity) -> ExcludedBatch:
        """Leave a batch's points out of every comparison from now on; its rows stay, the decision is audited."""
        self._checked(batch_id, reason, who, "excluded")
        with self.ctx.db.write() as session:
            batch = self._find(session, batch_id)
            if batch.excluded_at is not None:
                raise Conflict(
                    f"batch: result batch {batch_id} was already excluded by {batch.excluded_by} "
                    f"at {batch.excluded_at.isoformat(timespec='seconds')}"
                )
            batch.excluded_at, batch.excluded_by, batch.exclusion_reason = self.ctx.clock(), str(who), reason.strip()
            session.add(batch)
            session.flush()
            results.rebuild_batch_series(session.connection(), batch_id)  # the summaries compare reads
            self.ctx.record(
                session,
                who,
                "result.exclude",
                "result_batch",
                str(batch_id),
                related={"experiment_id": batch.experiment_id},
                explanation=reason,
                details={"points": batch.point_count, "digest": batch.digest, "logged_by": batch.created_by},
            )
            return _view(batch)

    def include_batch(self, batch_id: int, reason: str, who: Identity) -> int:
        """Count an excluded batch again (audited); returns its point count."""
        self._checked(batch_id, reason, who, "included again")
        with self.ctx.db.write() as session:
            batch = self._find(session, batch_id)
            if batch.excluded_at is None:
                raise Conflict(f"batch: result batch {batch_id} is not excluded")
            was = {"excluded_by": batch.excluded_by, "reason": batch.exclusion_reason}
            batch.excluded_at, batch.excluded_by, batch.exclusion_reason = None, None, None
            session.add(batch)
            session.flush()
            results.rebuild_batch_series(session.connection(), batch_id)
            self.ctx.record(
                session,
                who,
                "result.include",
                "result_batch",
                str(batch_id),
                related={"experiment_id": batch.experiment_id},
                explanation=reason,
                details={"points": batch.point_count, "was_excluded": was},
            )
            return batch.point_count
