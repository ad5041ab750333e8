"""The audit chain: every mutation appends an event in its own transaction.

Each event's hash covers its fields and the previous event's hash, and
`audit_head` holds the newest link. Editing an event breaks its hash; deleting
one breaks the sequence and the next event's `prev_hash`; deleting the newest
ones disagrees with the head. Appends serialise on the head row (a row lock on
PostgreSQL, the write lock on SQLite), so concurrent writers form one chain.

All of that is in the database, so whoever can write the database could redo
it. Two things are not (store/audit_key.py): each event's `mac`, made with the
audit key, and the witness, a file of signed checkpoints `(seq, hash)` appended
after every committed transaction. Without the key a writer cannot make a MAC
or a checkpoint, so `verify` names forged, inserted and re-hashed events by
their MAC, and a truncated, rolled-back or wiped log by the witness.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, bindparam, select, update
from sqlmodel import Session

from cublab.domain.canonical import canonical_json
from cublab.domain.errors import Conflict
from cublab.store.audit_key import AuditKey, Checkpoint, Witness
from cublab.store.db import after_commit
from cublab.store.tables import AuditEvent, AuditHead, table_of

GENESIS = "sha256:" + "0" * 64
_events = table_of(AuditEvent)
_head = table_of(AuditHead)
# Built once: every mutation appends, and constructing statements costs more than running them.
_READ_HEAD = select(_head.c.seq, _head.c.hash).where(_head.c.id == 1).with_for_update()
_EVENT_COLUMNS = tuple(c.name for c in _events.c)


@dataclass(frozen=True)
class _AppendPlan:
    """`append`'s three statements as SQL text for one dialect (the read locks the head row on PostgreSQL, like
    `_READ_HEAD`), with the event columns' conversions (JSON for `related` and `details`). Run with
    `exec_driver_sql`: every mutation appends, and SQLAlchemy's compilation and parameter handling for
    constructs cost more than these statements."""

    read_head: str
    insert_event: str
    move_head: str
    processors: tuple[Callable[[Any], Any] | None, ...]


@functools.cache
def _plan(dialect: Dialect) -> _AppendPlan:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return _AppendPlan(
        read_head="SELECT seq, hash FROM audit_head WHERE id = 1" + ("" if dialect.name == "sqlite" else " FOR UPDATE"),
        insert_event=f"INSERT INTO audit_event ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join([mark] * len(_EVENT_COLUMNS))})",
        move_head=f"UPDATE audit_head SET seq = {mark}, hash = {mark} WHERE id = 1",
        processors=tuple(c.type.dialect_impl(dialect).bind_processor(dialect) for c in _events.c),
    )


_SET_MAC = update(_events).where(_events.c.seq == bindparam("s"), _events.c.mac.is_(None)).values(mac=bindparam("m"))
_NOT_HASHED = frozenset({"hash", "mac"})  # the hash cannot cover itself; the MAC covers the hash


def iso(moment: datetime) -> str:
    """UTC with a Z: a zoned time is converted first, so the Z is never a lie."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(record: dict[str, Any]) -> str:
    fields = {k: record[k] for k in sorted(record) if k not in _NOT_HASHED}
    return "sha256:" + hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


class Link(NamedTuple):
    seq: int
    hash: str


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
    key: AuditKey | None = None,
) -> Link:
    """Append one event; the caller's transaction commits it with the change it describes.

    With a key the event carries a MAC of its hash; without one (only tests and
    tools that build a chain by hand) it has none and `verify` with the key says so.
    """
    plan = _plan(conn.dialect)
    head_seq, head_hash = conn.exec_driver_sql(plan.read_head).one()
    record = {
        "seq": head_seq + 1,
        "at": iso(at),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "related": related or {},
        "explanation": explanation,
        "details": details or {},
        "prev_hash": head_hash,
    }
    record["hash"] = event_hash(record)
    record["mac"] = key.mac(record["hash"]) if key is not None else None
    conn.exec_driver_sql(
        plan.insert_event,
        tuple(
            process(record[name]) if process else record[name]
            for name, process in zip(_EVENT_COLUMNS, plan.processors, strict=True)
        ),
    )
    conn.exec_driver_sql(plan.move_head, (record["seq"], record["hash"]))
    return Link(record["seq"], record["hash"])


def record(session: Session, *, key: AuditKey | None, witness: Witness | None, **event: Any) -> Link:
    """Append an event in the session's write transaction and checkpoint the chain once it commits.

    One witness line per transaction: a later event in the same transaction
    replaces the earlier one's pending checkpoint (store/db.py `after_commit`).
    """
    link = append(session.connection(), key=key, **event)
    if key is not None and witness is not None:
        after_commit(session, "audit-witness", functools.partial(checkpoint, key, witness, link))
    return link


def checkpoint(key: AuditKey, witness: Witness, link: Link) -> None:
    """Sign `(seq, hash)` and append it to the witness, stamped with the time it was witnessed."""
    witness.append(key, link.seq, link.hash, iso(datetime.now(UTC)))


class Kind(StrEnum):
    """What a problem is, so callers (seal, apply) can tell which ones they may act on."""

    MISSING = "missing"  # a gap in the sequence
    RELINKED = "relinked"  # prev_hash disagrees with the event before it
    EDITED = "edited"  # contents disagree with the stored hash
    HEAD = "head"  # audit_head disagrees with the end of the log
    UNAUTHENTICATED = "unauthenticated"  # no MAC
    FORGED = "forged"  # a MAC the key does not make
    WITNESS_MISSING = "witness-missing"  # events but no checkpoint at all
    WITNESS_LINE = "witness-line"  # a line that is not a checkpoint signed by the key
    TRUNCATED = "truncated"  # the witness saw events the log no longer has
    REWRITTEN = "rewritten"  # the witness saw a different hash for an event


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str
    kind: Kind = Kind.EDITED
    last: int | None = None  # a run of events seq..last
    where: str | None = None  # not an event: "witness"

    def __str__(self) -> str:
        if self.where:
            return f"{self.where}: {self.what}"
        if self.last is not None and self.last != self.seq:
            return f"events {self.seq}-{self.last}: {self.what}"
        return f"event {self.seq}: {self.what}"


@dataclass(frozen=True)
class Verification:
    events: int
    problems: list[Problem]
    authenticated: int = 0  # events whose MAC the key confirms (0 when verified without a key)
    checkpoints: int = 0  # valid signed checkpoints in the witness
    witnessed: int | None = None  # the newest event a valid checkpoint names

    @property
    def ok(self) -> bool:
        return not self.problems


class _Runs:
    """Consecutive sequence numbers as (first, last) runs: a rewritten tail is one line, not thousands."""

    def __init__(self) -> None:
        self.runs: list[list[int]] = []

    def add(self, seq: int) -> None:
        if self.runs and self.runs[-1][1] == seq - 1:
            self.runs[-1][1] = seq
        else:
            self.runs.append([seq, seq])


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


def _line_list(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" (and {len(numbers) - limit} more)" if len(numbers) > limit else "")


def verify(conn: Connection, key: AuditKey | None = None, witness: Witness | None = None) -> Verification:
    """Walk the whole chain and name every event that was edited, deleted or forged.

    Without a key only the hashes are checked, which a database writer can redo.
    With the key every event must carry a MAC the key makes; with the witness too,
    every signed checkpoint must name an event the log still has, with the same hash.
    """
    problems: list[Problem] = []
    by_seq: dict[int, list[Checkpoint]] = {}
    bad_lines: list[int] = []
    if key is not None and witness is not None:
        for cp in witness.checkpoints(key):
            if cp.valid:
                by_seq.setdefault(cp.seq, []).append(cp)
            else:
                bad_lines.append(cp.line)
    unauthenticated, forged = _Runs(), _Runs()
    disagree: list[tuple[Checkpoint, str]] = []
    expected_seq, prev_hash, count, authenticated = 1, GENESIS, 0, 0
    for row in _rows(conn):
        count += 1
        seq = row["seq"]
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
            problems.append(Problem(expected_seq, f"missing: event(s) {missing} were deleted", Kind.MISSING))
        elif row["prev_hash"] != prev_hash:
            problems.append(
                Problem(
                    seq,
                    "prev_hash does not match the event before it: the previous event was rewritten",
                    Kind.RELINKED,
                )
            )
        if event_hash(row) != row["hash"]:
            problems.append(
                Problem(
                    seq,
                    f"contents do not match its hash: the event was edited (action {row['action']!r}, object {row['object_id']})",
                    Kind.EDITED,
                )
            )
        if key is not None:
            if row["mac"] is None:
                unauthenticated.add(seq)
            elif key.mac_ok(row["hash"], row["mac"]):
                authenticated += 1
            else:
                forged.add(seq)
        disagree.extend((cp, row["hash"]) for cp in by_seq.get(seq, ()) if cp.hash != row["hash"])
        expected_seq, prev_hash = seq + 1, row["hash"]
    last_seq = expected_seq - 1
    head = conn.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one_or_none()
    if head is None:
        problems.append(Problem(0, "the chain head is missing", Kind.HEAD))
    elif (head.seq, head.hash) != (last_seq, prev_hash):
        problems.append(
            Problem(
                head.seq,
                f"the chain head names event {head.seq} but the log ends at event {last_seq}: events were deleted from the end or the head was edited",
                Kind.HEAD,
            )
        )
    for first, last in unauthenticated.runs:
        problems.append(
            Problem(
                first,
                "not authenticated: no MAC. Events from before the audit key existed are sealed with "
                "`cublab audit seal --as human:<name>`; otherwise they were written by someone without the key",
                Kind.UNAUTHENTICATED,
                last,
            )
        )
    for first, last in forged.runs:
        problems.append(
            Problem(
                first,
                "MAC does not verify with the audit key: forged, inserted, or edited and re-hashed by someone "
                "without the key (or the key file was replaced)",
                Kind.FORGED,
                last,
            )
        )
    if key is not None and witness is not None:
        problems.extend(_witness_problems(witness, by_seq, bad_lines, disagree, count, last_seq))
    checkpoints = sum(len(cps) for cps in by_seq.values())
    return Verification(count, problems, authenticated, checkpoints, max(by_seq) if by_seq else None)


def _witness_problems(
    witness: Witness,
    by_seq: dict[int, list[Checkpoint]],
    bad_lines: list[int],
    disagree: list[tuple[Checkpoint, str]],
    count: int,
    last_seq: int,
) -> Iterable[Problem]:
    if bad_lines:
        yield Problem(
            0,
            f"line(s) {_line_list(bad_lines)} of {witness.path} are not checkpoints signed by this audit key: "
            "forged, corrupted, or signed with another key",
            Kind.WITNESS_LINE,
            where="witness",
        )
    if not by_seq:
        if count:
            state = "does not exist" if not witness.exists() else "holds no valid checkpoint"
            yield Problem(
                0,
                f"{witness.path} {state} but the log holds {count} events: the witness was deleted, or the "
                "database was copied or moved here (point CUBLAB_AUDIT_WITNESS at its witness); a database from "
                "before the audit key gets its first checkpoint from `cublab audit seal`",
                Kind.WITNESS_MISSING,
                where="witness",
            )
        return
    newest = max(by_seq)
    if newest > last_seq:
        cp = by_seq[newest][0]
        gone = f"event {newest}" if newest == last_seq + 1 else f"events {last_seq + 1}-{newest}"
        how = (
            "the log is empty: it was wiped"
            if count == 0
            else f"the log ends at event {last_seq}: {gone} were deleted (the log was truncated or rolled back)"
        )
        yield Problem(
            newest,
            f"checkpoint (line {cp.line}, {cp.at}) recorded event {newest} with hash {cp.hash}, but {how}",
            Kind.TRUNCATED,
            where="witness",
        )
    if disagree:
        disagree.sort(key=lambda pair: (pair[0].seq, pair[0].line))
        cp, actual = disagree[0]
        more = f" ({len(disagree) - 1} later checkpoint(s) disagree too)" if len(disagree) > 1 else ""
        yield Problem(
            cp.seq,
            f"checkpoint (line {cp.line}, {cp.at}) recorded event {cp.seq} with hash {cp.hash}, but the log's "
            f"event {cp.seq} has hash {actual}: the log was rewritten at or before event {cp.seq}, or rolled back "
            f"and written again{more}",
            Kind.REWRITTEN,
            where="witness",
        )


def seal(conn: Connection, key: AuditKey, witness: Witness | None = None) -> Link | None:
    """Authenticate the events from before the audit key existed, once everything else verifies.

    Only an unauthenticated prefix is sealed: an event without a MAC after an
    authenticated one was written by someone without the key. Refused, naming
    the problems, when the chain or the witness shows anything else. Returns the
    newest sealed link, or None when there was nothing to seal. The caller
    records the seal as an audit event in the same transaction.
    """
    conn.execute(_READ_HEAD)  # holds the chain while it is checked and sealed
    result = verify(conn, key, witness)
    blocking = [p for p in result.problems if p.kind not in (Kind.UNAUTHENTICATED, Kind.WITNESS_MISSING)]
    if blocking:
        raise Conflict(
            "audit: the log does not verify, and sealing would authenticate whatever was done to it: "
            + "; ".join(str(p) for p in blocking)
        )
    runs = [p for p in result.problems if p.kind == Kind.UNAUTHENTICATED]
    if not runs:
        return None
    interleaved = [p for p in runs if p.seq != 1]
    if interleaved:
        raise Conflict(
            f"audit: {'; '.join(str(p).split(':')[0] for p in interleaved)} have no MAC but follow authenticated "
            "events, so they were written without the key after it existed; only events from before the key can be sealed"
        )
    last = runs[0].last or runs[0].seq
    link: Link | None = None
    batch: list[dict[str, Any]] = []
    for row in _rows(conn):
        if row["seq"] > last:
            break
        batch.append({"s": row["seq"], "m": key.mac(row["hash"])})
        link = Link(row["seq"], row["hash"])
        if len(batch) >= 5000:
            conn.execute(_SET_MAC, batch)
            batch = []
    if batch:
        conn.execute(_SET_MAC, batch)
    return link


def check_recent(conn: Connection, key: AuditKey, witness: Witness) -> list[Problem]:
    """A quick check of the log's end, for acting on the log's word (apply): no full walk.

    The newest checkpoint in the witness's last lines must name an event the log
    still has, with that hash and a MAC the key confirms; every event after it must
    recompute to its hash, link to the one before and carry a valid MAC; the head
    must name the last event. Because each hash covers the previous one, this
    catches truncation, wiping, and any rewrite at or before the checkpoint (it
    changes the checkpointed event's hash), and any forged event after it. A
    missing witness while events exist is a problem too. `verify` walks everything.
    """
    head = conn.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one_or_none()
    if head is None:
        return [Problem(0, "the chain head is missing", Kind.HEAD)]
    newest = witness.newest(key)
    if newest is None:
        if head.seq == 0:
            return []
        return [
            Problem(
                0,
                f"{witness.path} has no valid checkpoint but the log holds {head.seq} events",
                Kind.WITNESS_MISSING,
                where="witness",
            )
        ]
    query = select(_events).where(_events.c.seq >= newest.seq).order_by(_events.c.seq)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    if not rows or rows[0]["seq"] != newest.seq:
        how = "the log is empty: it was wiped" if head.seq == 0 and not rows else "it is gone: the log was truncated"
        return [
            Problem(
                newest.seq,
                f"checkpoint ({newest.at}) recorded event {newest.seq}, but {how}",
                Kind.TRUNCATED,
                where="witness",
            )
        ]
    if rows[0]["hash"] != newest.hash:
        return [
            Problem(
                newest.seq,
                f"checkpoint ({newest.at}) recorded event {newest.seq} with hash {newest.hash}, but the log's has "
                f"{rows[0]['hash']}: the log was rewritten",
                Kind.REWRITTEN,
                where="witness",
            )
        ]
    problems: list[Problem] = []
    prev_seq, prev_hash = newest.seq - 1, rows[0]["prev_hash"]
    for row in rows:
        seq = row["seq"]
        if seq != prev_seq + 1 or row["prev_hash"] != prev_hash:
            problems.append(Problem(seq, "does not follow the event before it", Kind.RELINKED))
        if event_hash(row) != row["hash"]:
            problems.append(Problem(seq, "contents do not match its hash", Kind.EDITED))
        if row["mac"] is None:
            problems.append(Problem(seq, "not authenticated: no MAC", Kind.UNAUTHENTICATED))
        elif not key.mac_ok(row["hash"], row["mac"]):
            problems.append(Problem(seq, "MAC does not verify with the audit key", Kind.FORGED))
        prev_seq, prev_hash = seq, row["hash"]
    if (head.seq, head.hash) != (prev_seq, prev_hash):
        problems.append(
            Problem(head.seq, f"the chain head names event {head.seq} but the log ends at {prev_seq}", Kind.HEAD)
        )
    return problems


def authenticated_events(
    conn: Connection, key: AuditKey, *, object_type: str, object_id: str, actions: Iterable[str]
) -> list[dict[str, Any]]:
    """The events about one object whose contents recompute to their hash and whose MAC the key confirms.

    For decisions that act on the log's word (applying a proposal on its approvals):
    an event a database writer inserted, or edited and re-hashed, is not among them.
    """
    rows = (
        conn.execute(
            select(_events)
            .where(
                _events.c.object_type == object_type,
                _events.c.object_id == object_id,
                _events.c.action.in_(list(actions)),
            )
            .order_by(_events.c.seq)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows if event_hash(dict(r)) == r["hash"] and key.mac_ok(r["hash"], r["mac"])]
