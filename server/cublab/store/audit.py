"""The audit chain: every mutation appends an event in its own transaction.

Each event's hash covers its fields and the previous event's hash, and
`audit_head` holds the newest link. Editing an event breaks its hash; deleting
one breaks the sequence and the next event's `prev_hash`; deleting the newest
ones disagrees with the head. Appends serialise on the head row (a row lock on
PostgreSQL, the write lock on SQLite), so concurrent writers form one chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from cublab.domain.canonical import canonical_json
from cublab.store.tables import AuditEvent, AuditHead, table_of

GENESIS = "sha256:" + "0" * 64
_events = table_of(AuditEvent)
_head = table_of(AuditHead)
# Built once: every mutation appends, and constructing statements costs more than running them.
_READ_HEAD = select(_head.c.seq, _head.c.hash).where(_head.c.id == 1).with_for_update()
_INSERT_EVENT = insert(_events)
_MOVE_HEAD = update(_head).where(_head.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))


def iso(moment: datetime) -> str:
    """UTC with a Z: a zoned time is converted first, so the Z is never a lie."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(record: dict[str, Any]) -> str:
    fields = {k: record[k] for k in sorted(record) if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    related: dict[str, Any] | None = None,
    explanation: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one event; the caller's transaction commits it with the change it describes."""
    head = conn.execute(_READ_HEAD).one()
    record = {
        "seq": head.seq + 1,
        "at": iso(at),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "related": related or {},
        "explanation": explanation,
        "details": details or {},
        "prev_hash": head.hash,
    }
    record["hash"] = event_hash(record)
    conn.execute(_INSERT_EVENT, record)
    conn.execute(_MOVE_HEAD, {"new_seq": record["seq"], "new_hash": record["hash"]})
    return record["seq"]


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.what}"


@dataclass(frozen=True)
class Verification:
    events: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(conn: Connection, batch: int = 5000) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        rows = (
            conn.execute(select(_events).where(_events.c.seq > last).order_by(_events.c.seq).limit(batch))
            .mappings()
            .all()
        )
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = rows[-1]["seq"]


def verify(conn: Connection) -> Verification:
    """Walk the whole chain and name every event that was edited, deleted or forged."""
    problems: list[Problem] = []
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for row in _rows(conn):
        count += 1
        seq = row["seq"]
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
            problems.append(Problem(expected_seq, f"missing: event(s) {missing} were deleted"))
        elif row["prev_hash"] != prev_hash:
            problems.append(
                Problem(seq, "prev_hash does not match the event before it: the previous event was rewritten")
            )
        if event_hash(row) != row["hash"]:
            problems.append(
                Problem(
                    seq,
                    f"contents do not match its hash: the event was edited (action {row['action']!r}, object {row['object_id']})",
                )
            )
        expected_seq, prev_hash = seq + 1, row["hash"]
    head = conn.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one_or_none()
    if head is None:
        problems.append(Problem(0, "the chain head is missing"))
    elif (head.seq, head.hash) != (expected_seq - 1, prev_hash):
        problems.append(
            Problem(
                head.seq,
                f"the chain head names event {head.seq} but the log ends at event {expected_seq - 1}: events were deleted from the end or the head was edited",
            )
        )
    return Verification(count, problems)
