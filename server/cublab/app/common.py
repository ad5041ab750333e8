"""What the use cases share: ids checked before they reach a query, rows loaded or refused, pages."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Table
from sqlalchemy import select as select_rows
from sqlmodel import Session, SQLModel, col, select

from cublab.domain.errors import InvalidInput, NotFound
from cublab.domain.ids import PREFIXES, is_id_of
from cublab.store.tables import Experiment, Proposal, Sandbox

Model = TypeVar("Model", bound=SQLModel)
Listed = TypeVar("Listed", Sandbox, Experiment, Proposal)


def check_id(kind: str, value: str, field: str) -> str:
    """A malformed id is the caller's mistake, and its message shows the shape ids have."""
    if not is_id_of(kind, value):
        raise InvalidInput(
            f"{field}: {value[:70]!r} is not a {kind} id; {kind} ids look like '{PREFIXES[kind]}_' followed by 26 characters"
        )
    return value


def find(session: Session, model: type[Model], kind: str, value: str, field: str) -> Model:
    """The row a caller names, or a NotFound that names the field."""
    check_id(kind, value, field)
    found = session.get(model, value)
    if found is None:
        raise NotFound(f"{field}: no {kind} {value} exists")
    return found


def existing(session: Session, model: type[Model], key: str) -> Model:
    """A row cublab itself refers to (a foreign key, a claimed export): missing, it is a bug, not the caller's."""
    found = session.get(model, key)
    if found is None:
        raise LookupError(f"{model.__name__} {key} is referred to but does not exist")
    return found


def newest_first(
    session: Session, model: type[Listed], kind: str, cursor: str | None, limit: int, *where: ColumnElement[bool]
) -> tuple[list[Listed], str | None]:
    """One page by id, newest first (ids sort by time), and the cursor of the next page, if any."""
    key = col(model.id)
    query = select(model).where(*where).order_by(key.desc()).limit(limit + 1)
    if cursor:
        query = query.where(key < check_id(kind, cursor, "cursor"))
    rows = list(session.exec(query).all())
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


def newest_rows(
    session: Session, table: Table, kind: str, cursor: str | None, limit: int, *where: ColumnElement[bool]
) -> tuple[list[Row[Any]], str | None]:
    """`newest_first` as plain rows (columns by attribute), for a listing that only reads them.

    A Core query: no ORM loading, and no mapper configuration, which the first ORM query of a process
    pays for every table (about 10 ms: the first `sandbox_list` of a new `cublab serve` used to). The
    conditions must be on the table's columns (`table_of(Model).c`), not the model's attributes, which
    would make it an ORM query again.
    """
    key = table.c.id
    query = select_rows(table).where(*where).order_by(key.desc()).limit(limit + 1)
    if cursor:
        query = query.where(key < check_id(kind, cursor, "cursor"))
    rows = list(session.connection().execute(query).all())
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)
