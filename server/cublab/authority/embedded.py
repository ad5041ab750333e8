"""The embedded authority: ConfigHub's shape (spaces, units, immutable revisions,
change sets, tags, ApprovedBy) in cublab's own database.

It is the default, so the whole governed workflow runs on one machine with no
ConfigHub account. It works inside the caller's transaction: a proposal row and
its change set commit together or not at all. The human-only operations
(import, approve, apply, discard) live here too, but only the CLI's use cases
call them; no MCP tool reaches them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cublab.authority.base import Authority, ChangeRequest, ProposedChange, SpaceInfo, UnitHead
from cublab.domain.canonical import canonical_json, content_hash
from cublab.domain.errors import Conflict, NotFound
from cublab.domain.states import ChangeSetState, RevisionState
from cublab.store.tables import ChangeSet, Revision, Space, Tag, Unit


def _new_unit(space: Space, slug: str, toolchain_type: str, by: str, now: datetime) -> Unit:
    """A unit with no revision yet: its first commit or applied proposal makes revision 1."""
    return Unit(
        unit_id=_uuid(),
        space_id=space.space_id,
        slug=slug,
        toolchain_type=toolchain_type,
        data="{}",
        labels={},
        annotations={},
        head_revision_num=0,
        live_revision_num=0,
        version=0,
        last_change_description="",
        created_by=by,
        created_at=now,
        updated_at=now,
    )


def _uuid() -> str:
    return str(uuid.uuid4())


class EmbeddedAuthority:
    name = "embedded"
    remote = False

    def __init__(self, session: Session, clock: Callable[[], datetime]) -> None:
        self.session = session
        self.clock = clock

    def reachable(self) -> bool:
        """The embedded authority is this database: reachable whenever cublab is."""
        return True

    # ---- reads ------------------------------------------------------------------------

    def _space(self, slug: str) -> Space | None:
        return self.session.exec(select(Space).where(Space.slug == slug)).first()

    def _space_or_raise(self, slug: str) -> Space:
        row = self._space(slug)
        if row is None:
            raise NotFound(
                f"target_space: no space {slug!r} in the authority; a human creates it with `cublab authority import`"
            )
        return row

    def _unit(self, space: str, unit: str) -> tuple[Space, Unit | None]:
        row = self._space_or_raise(space)
        return row, self.session.exec(select(Unit).where(Unit.space_id == row.space_id, Unit.slug == unit)).first()

    def get_space(self, slug: str) -> SpaceInfo | None:
        row = self._space(slug)
        return None if row is None else SpaceInfo(row.space_id, row.slug, row.labels)

    def get_head(self, space: str, unit: str) -> UnitHead | None:
        _, row = self._unit(space, unit)
        if row is None:
            return None
        return UnitHead(
            row.unit_id,
            row.space_id,
            row.slug,
            row.toolchain_type,
            json.loads(row.data),
            row.head_revision_num,
            row.live_revision_num,
            row.version,
            row.labels,
        )

    def list_spaces(self) -> list[Space]:
        return list(self.session.exec(select(Space).order_by(Space.slug)).all())

    def list_units(self, space: str) -> list[Unit]:
        row = self._space(space)
        if row is None:
            raise NotFound(f"space: no space {space!r}")
        return list(self.session.exec(select(Unit).where(Unit.space_id == row.space_id).order_by(Unit.slug)).all())

    def unit(self, space: str, unit: str) -> Unit:
        _, row = self._unit(space, unit)
        if row is None:
            raise NotFound(f"unit: no unit {unit!r} in space {space!r}")
        return row

    def revisions(self, space: str, unit: str) -> list[Revision]:
        row = self.unit(space, unit)
        return list(
            self.session.exec(
                select(Revision)
                .where(Revision.unit_id == row.unit_id, Revision.state == RevisionState.COMMITTED)
                .order_by(col(Revision.revision_num))
            ).all()
        )

    def revision(self, space: str, unit: str, num: int) -> Revision:
        row = self.unit(space, unit)
        rev = self.session.exec(
            select(Revision).where(Revision.unit_id == row.unit_id, Revision.revision_num == num)
        ).first()
        if rev is None:
            raise NotFound(f"revision: unit {space}/{unit} has no revision {num} (head is {row.head_revision_num})")
        return rev

    def pending_revision(self, revision_id: str) -> Revision:
        rev = self.session.get(Revision, revision_id)
        if rev is None:
            raise NotFound(f"revision {revision_id} does not exist")
        return rev

    def change_set(self, change_set_id: str) -> ChangeSet | None:
        return self.session.get(ChangeSet, change_set_id)

    # ---- proposals (agents reach this only through variant_promote) --------------------

    def propose(self, change: ChangeRequest) -> ProposedChange:
        space, unit = self._unit(change.space, change.unit)
        now = self.clock()
        change_set = self.session.exec(
            select(ChangeSet).where(ChangeSet.space_id == space.space_id, ChangeSet.slug == change.change_set_slug)
        ).first()
        if change_set is not None:  # a break-glass incident's captures share one change set per space
            change_set.state = ChangeSetState.OPEN
            self.session.add(change_set)
        else:
            change_set = ChangeSet(
                change_set_id=_uuid(),
                space_id=space.space_id,
                slug=change.change_set_slug,
                description=change.description,
                labels=change.labels,
                annotations=change.annotations,
                state=ChangeSetState.OPEN,
                created_by=change.user_id,
                created_at=now,
            )
            self.session.add(change_set)
        for tag in change.tags:
            self.ensure_tag(change.space, tag)
        revision = Revision(
            revision_id=_uuid(),
            unit_id=unit.unit_id if unit else None,
            space_id=space.space_id,
            unit_slug=change.unit,
            revision_num=None,
            state=RevisionState.PENDING,
            data=canonical_json(change.data),
            data_hash=content_hash(change.data),
            description=change.description,
            source="capture" if "break-glass" in change.tags else "proposal",
            user_id=change.user_id,
            approved_by=[],
            change_set_id=change_set.change_set_id,
            tags=list(change.tags),
            labels=change.labels,
            annotations=change.annotations,
            base_revision_num=change.base_revision_num,
            created_at=now,
        )
        self.session.add(revision)
        self.session.flush()
        return ProposedChange(change_set.change_set_id, revision.revision_id)

    # ---- human operations (CLI only) ----------------------------------------------------

    def ensure_space(self, slug: str, labels: dict[str, str], by: str) -> Space:
        space = self._space(slug)
        if space is None:
            space = Space(space_id=_uuid(), slug=slug, labels=labels, created_by=by, created_at=self.clock())
            self.session.add(space)
            self.session.flush()
        elif labels and {**space.labels, **labels} != space.labels:
            space.labels = {**space.labels, **labels}
            self.session.add(space)
            self.session.flush()
        return space

    def commit_revision(
        self,
        space_slug: str,
        unit_slug: str,
        data: dict[str, Any],
        *,
        by: str,
        description: str,
        source: str,
        toolchain_type: str = "AppConfig/JSON",
        tags: tuple[str, ...] = (),
        change_set_id: str | None = None,
        approved_by: list[str] | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Revision:
        """A new head revision (and live: the embedded authority has no separate apply target)."""
        space, unit = self._unit(space_slug, unit_slug)
        now = self.clock()
        if unit is None:
            unit = _new_unit(space, unit_slug, toolchain_type, by, now)
        num = unit.head_revision_num + 1
        revision = Revision(
            revision_id=_uuid(),
            unit_id=unit.unit_id,
            space_id=space.space_id,
            unit_slug=unit_slug,
            revision_num=num,
            state=RevisionState.COMMITTED,
            data=canonical_json(data),
            data_hash=content_hash(data),
            description=description,
            source=source,
            user_id=by,
            approved_by=approved_by or [],
            change_set_id=change_set_id,
            tags=list(tags),
            labels=labels or {},
            annotations=annotations or {},
            base_revision_num=unit.head_revision_num or None,
            created_at=now,
        )
        self._move_head(unit, revision, num, description, now)
        self.session.add(revision)
        self.session.flush()
        return revision

    def _move_head(self, unit: Unit, revision: Revision, num: int, description: str, now: datetime) -> None:
        """Make `revision`, numbered `num`, the unit's head and live revision."""
        unit.data = revision.data
        unit.head_revision_num = num
        unit.live_revision_num = num
        unit.version += 1
        unit.last_change_description = description
        unit.updated_at = now
        self.session.add(unit)
        self.session.flush()

    def approve_revision(self, revision_id: str, approver: str) -> None:
        revision = self.pending_revision(revision_id)
        if approver not in revision.approved_by:
            revision.approved_by = [*revision.approved_by, approver]
            self.session.add(revision)
            self.session.flush()

    def apply_pending(self, revision_id: str, *, by: str, description: str) -> Revision:
        """Make a pending revision the unit's head and live revision; close its change set."""
        revision = self.pending_revision(revision_id)
        if revision.state != RevisionState.PENDING:
            raise Conflict(f"revision {revision_id} is {revision.state}, not pending")
        space = self.session.get(Space, revision.space_id)
        if space is None:  # the foreign key forbids it
            raise NotFound(f"revision {revision_id}: its space {revision.space_id} does not exist")
        _, unit = self._unit(space.slug, revision.unit_slug)
        now = self.clock()
        if unit is None:
            unit = _new_unit(space, revision.unit_slug, "AppConfig/JSON", by, now)
        num = unit.head_revision_num + 1
        revision.unit_id = unit.unit_id
        revision.revision_num = num
        revision.state = RevisionState.COMMITTED
        revision.created_at = now
        self._move_head(unit, revision, num, description, now)
        self.session.add(revision)
        self._close_change_set(revision.change_set_id)
        return revision

    def discard_pending(self, revision_id: str) -> None:
        revision = self.pending_revision(revision_id)
        if revision.state == RevisionState.PENDING:
            revision.state = RevisionState.DISCARDED
            self.session.add(revision)
            self._close_change_set(revision.change_set_id)

    def _close_change_set(self, change_set_id: str | None) -> None:
        """A change set closes once none of its revisions is pending: applied if any was committed."""
        self.session.flush()
        change_set = self.session.get(ChangeSet, change_set_id) if change_set_id else None
        if change_set is None or change_set.state != ChangeSetState.OPEN:
            return
        states = set(self.session.exec(select(Revision.state).where(Revision.change_set_id == change_set_id)).all())
        if RevisionState.PENDING not in states:
            change_set.state = ChangeSetState.APPLIED if RevisionState.COMMITTED in states else ChangeSetState.ABANDONED
            self.session.add(change_set)
            self.session.flush()

    def ensure_tag(self, space_slug: str, slug: str) -> Tag:
        space = self._space_or_raise(space_slug)
        tag = self.session.exec(select(Tag).where(Tag.space_id == space.space_id, Tag.slug == slug)).first()
        if tag is None:
            tag = Tag(tag_id=_uuid(), space_id=space.space_id, slug=slug, created_at=self.clock())
            self.session.add(tag)
            self.session.flush()
        return tag


_EMBEDDED_IS_AN_AUTHORITY: type[Authority] = EmbeddedAuthority  # checked by mypy: the protocol is met
