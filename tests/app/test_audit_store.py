"""The keyed audit chain at the store: each attack a database writer can make without the key is named by `verify`.

The writer here has the database (SQL on the engine, on SQLite and PostgreSQL) and
everything cublab's code knows except the key: it recomputes hashes, moves the head
and copies MACs around. It never holds the key or writes the witness.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cublab.domain.errors import Conflict
from cublab.store import audit
from cublab.store.audit import Kind
from cublab.store.audit_key import AuditKey, Witness
from cublab.store.db import Database, after_commit
from cublab.store.tables import AuditEvent, AuditHead

EVENTS = AuditEvent.__table__
HEAD = AuditHead.__table__


@dataclass
class Chain:
    db: Database
    key: AuditKey
    witness: Witness

    def write(self, *actions: str, key: AuditKey | str | None = "default", object_id: str = "obj-1") -> None:
        """One transaction appending one event per action."""
        use = self.key if key == "default" else key
        with self.db.write() as session:
            for action in actions:
                audit.record(
                    session,
                    key=use,  # type: ignore[arg-type]
                    witness=self.witness if use is not None else None,
                    at=datetime.now(UTC),
                    actor="human:alice" if action.startswith("proposal.") else "agent:t-1",
                    action=action,
                    object_type="proposal" if action.startswith("proposal.") else "thing",
                    object_id=object_id,
                    explanation=f"did {action}",
                )

    def verify(self, key: AuditKey | str | None = "default", witness: Witness | str | None = "default"):
        with self.db.engine.connect() as conn:
            return audit.verify(
                conn,
                self.key if key == "default" else key,  # type: ignore[arg-type]
                self.witness if witness == "default" else witness,  # type: ignore[arg-type]
            )

    def rows(self) -> list[dict[str, Any]]:
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(EVENTS).order_by(EVENTS.c.seq)).mappings()]

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the whole log with `rows`, re-chained from the start: what a writer without the key can do."""
        prev = audit.GENESIS
        for seq, row in enumerate(rows, start=1):
            row.update(seq=seq, prev_hash=prev)
            row["hash"] = audit.event_hash(row)
            prev = row["hash"]
        with self.db.engine.begin() as conn:
            conn.execute(sa.delete(EVENTS))
            if rows:
                conn.execute(sa.insert(EVENTS), rows)
            conn.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(seq=len(rows), hash=prev))


@pytest.fixture
def chain(db_url: str, tmp_path: Path) -> Iterator[Chain]:
    db = Database(db_url)
    db.migrate()
    c = Chain(db, AuditKey(os.urandom(32), "test"), Witness(tmp_path / "witness" / "w.jsonl"))
    yield c
    db.dispose()


def kinds(result) -> list[Kind]:
    return [p.kind for p in result.problems]


def eight(chain: Chain) -> None:
    for n in range(8):
        chain.write(f"thing.step{n}")


def test_an_intact_keyed_log_verifies_with_one_checkpoint_per_transaction(chain: Chain) -> None:
    eight(chain)
    chain.write("thing.a", "thing.b", "thing.c")  # one transaction, three events, one witness line
    result = chain.verify()
    assert result.ok, [str(p) for p in result.problems]
    assert (result.events, result.authenticated, result.checkpoints, result.witnessed) == (11, 11, 9, 11)
    assert all(row["mac"] and row["mac"].startswith("hmac-sha256:") for row in chain.rows())


def test_a_rolled_back_transaction_writes_no_checkpoint(chain: Chain) -> None:
    chain.write("thing.a")
    with pytest.raises(RuntimeError), chain.db.write() as session:
        audit.record(
            session,
            key=chain.key,
            witness=chain.witness,
            at=datetime.now(UTC),
            actor="agent:t-1",
            action="thing.b",
            object_type="thing",
            object_id="x",
        )
        raise RuntimeError("the use case failed")
    assert len(chain.witness.path.read_text().splitlines()) == 1
    assert chain.verify().ok


def test_truncating_the_tail_and_moving_the_head_back_is_named(chain: Chain) -> None:
    eight(chain)
    chain.rewrite(chain.rows()[:5])  # a consistent chain of 5, head at 5, MACs intact
    result = chain.verify()
    assert kinds(result) == [Kind.TRUNCATED]
    assert "recorded event 8" in str(result.problems[0])
    assert "the log ends at event 5: events 6-8 were deleted" in str(result.problems[0])
    assert str(result.problems[0]).startswith("witness: ")


def test_deleting_only_the_newest_event_is_named(chain: Chain) -> None:
    eight(chain)
    chain.rewrite(chain.rows()[:7])
    assert "event 8 were deleted" in str(chain.verify().problems[0])


def test_wiping_the_log_is_named(chain: Chain) -> None:
    eight(chain)
    chain.rewrite([])
    result = chain.verify()
    assert kinds(result) == [Kind.TRUNCATED]
    assert "the log is empty: it was wiped" in str(result.problems[0])


def test_appending_a_forged_event_is_named(chain: Chain) -> None:
    eight(chain)
    rows = chain.rows()
    rows.append({**rows[-1], "action": "proposal.approve", "mac": None})
    chain.rewrite(rows)
    result = chain.verify()
    assert kinds(result) == [Kind.UNAUTHENTICATED] and result.problems[0].seq == 9
    assert str(result.problems[0]).startswith("event 9: not authenticated")
    rows[-1]["mac"] = rows[-2]["mac"]  # a real MAC copied from another event
    chain.rewrite(rows)
    assert [(p.kind, p.seq, p.last) for p in chain.verify().problems] == [(Kind.FORGED, 9, 9)]


def test_inserting_an_event_and_rechaining_is_named(chain: Chain) -> None:
    eight(chain)
    rows = chain.rows()
    rows.insert(3, {**rows[2], "action": "proposal.approve", "explanation": "forged"})
    chain.rewrite(rows)  # 9 events, every hash recomputed, the old MACs kept
    result = chain.verify()
    assert [(p.kind, p.seq, p.last) for p in result.problems if p.kind == Kind.FORGED] == [(Kind.FORGED, 4, 9)]
    assert "events 4-9: MAC does not verify" in str(result.problems[0])
    rewritten = [p for p in result.problems if p.kind == Kind.REWRITTEN]
    assert len(rewritten) == 1 and rewritten[0].seq == 4


def test_editing_an_event_and_recomputing_the_rest_is_named(chain: Chain) -> None:
    eight(chain)
    rows = chain.rows()
    rows[2]["explanation"] = "nothing to see"
    chain.rewrite(rows)
    result = chain.verify()
    assert [(p.kind, p.seq, p.last) for p in result.problems] == [(Kind.FORGED, 3, 8), (Kind.REWRITTEN, 3, None)]
    assert "checkpoint (line 3" in str(result.problems[1]) and "5 later checkpoint(s) disagree too" in str(
        result.problems[1]
    )


def test_editing_without_recomputing_is_still_named_by_the_hash(chain: Chain) -> None:
    eight(chain)
    with chain.db.engine.begin() as conn:
        conn.execute(sa.update(EVENTS).where(EVENTS.c.seq == 4).values(actor="human:mallory"))
    assert [(p.kind, p.seq) for p in chain.verify().problems] == [(Kind.EDITED, 4)]


def test_a_forged_approval_is_not_an_authenticated_event(chain: Chain) -> None:
    chain.write("proposal.create", object_id="prop-1")
    chain.write("proposal.approve", object_id="prop-1")
    rows = chain.rows()
    rows.append({**rows[-1], "actor": "human:bob", "mac": None})
    rows.append({**rows[-1], "actor": "human:carol", "mac": rows[-2]["mac"]})
    chain.rewrite(rows)
    with chain.db.engine.connect() as conn:
        good = audit.authenticated_events(
            conn, chain.key, object_type="proposal", object_id="prop-1", actions=["proposal.approve"]
        )
    assert [r["actor"] for r in good] == ["human:alice"]


def test_witness_lines_that_are_not_signed_checkpoints_are_named(chain: Chain) -> None:
    eight(chain)
    with chain.witness.path.open("a") as out:
        out.write('{"seq": 99, "hash": "sha256:00", "at": "now", "sig": "AAAA"}\n')
    chain.witness.append(AuditKey(os.urandom(32), "another"), 100, "sha256:00", "now")
    result = chain.verify()
    assert kinds(result) == [Kind.WITNESS_LINE]
    assert "line(s) 9, 10 of" in str(result.problems[0])


def test_a_missing_witness_is_named_while_events_exist(chain: Chain) -> None:
    assert chain.verify().ok  # an empty log needs no witness
    eight(chain)
    chain.witness.path.unlink()
    result = chain.verify()
    assert kinds(result) == [Kind.WITNESS_MISSING] and "does not exist but the log holds 8 events" in str(
        result.problems[0]
    )


def test_another_key_authenticates_nothing(chain: Chain) -> None:
    eight(chain)
    result = chain.verify(key=AuditKey(os.urandom(32), "wrong"))
    assert kinds(result) == [Kind.FORGED, Kind.WITNESS_LINE, Kind.WITNESS_MISSING]
    assert "holds no valid checkpoint" in str(result.problems[2])


def test_without_the_key_only_the_hashes_are_checked(chain: Chain) -> None:
    eight(chain)
    rows = chain.rows()
    rows[2]["explanation"] = "nothing to see"
    chain.rewrite(rows)
    assert chain.verify(key=None, witness=None).ok, "an unkeyed check is what a writer can fool"


# ---- a log from before the key: sealed once, by a human --------------------------------------


def test_a_legacy_log_is_sealed_after_its_hashes_verify(chain: Chain) -> None:
    for n in range(5):
        chain.write(f"thing.old{n}", key=None)
    assert kinds(chain.verify()) == [Kind.UNAUTHENTICATED, Kind.WITNESS_MISSING]
    assert str(chain.verify().problems[0]).startswith("events 1-5: not authenticated")
    chain.write("thing.new")  # the upgraded server writes keyed events before anyone seals
    assert kinds(chain.verify()) == [Kind.UNAUTHENTICATED]
    with chain.db.write() as session:
        link = audit.seal(session.connection(), chain.key, chain.witness)
    assert link is not None and link.seq == 5
    result = chain.verify()
    assert result.ok and result.authenticated == 6
    with chain.db.write() as session:
        assert audit.seal(session.connection(), chain.key, chain.witness) is None


def test_seal_refuses_an_edited_legacy_log(chain: Chain) -> None:
    for n in range(5):
        chain.write(f"thing.old{n}", key=None)
    with chain.db.engine.begin() as conn:
        conn.execute(sa.update(EVENTS).where(EVENTS.c.seq == 2).values(explanation="edited"))
    with pytest.raises(Conflict, match="event 2: contents do not match"), chain.db.write() as session:
        audit.seal(session.connection(), chain.key, chain.witness)
    assert all(row["mac"] is None for row in chain.rows())


def test_seal_refuses_events_without_a_mac_after_keyed_ones(chain: Chain) -> None:
    chain.write("thing.keyed")
    chain.write("thing.unkeyed", key=None)
    with pytest.raises(Conflict, match="event 2 have no MAC but follow authenticated events"), chain.db.write() as s:
        audit.seal(s.connection(), chain.key, chain.witness)


# ---- the after-commit hook and concurrent writers ----------------------------------------------


def test_a_failing_after_commit_action_is_logged_and_the_commit_stands(chain: Chain, caplog) -> None:
    def boom() -> None:
        raise OSError("disk full")

    with caplog.at_level(logging.ERROR, logger="cublab.store"), chain.db.write() as session:
        audit.record(
            session,
            key=chain.key,
            witness=chain.witness,
            at=datetime.now(UTC),
            actor="agent:t-1",
            action="thing.a",
            object_type="thing",
            object_id="x",
        )
        after_commit(session, "boom", boom)
    assert "after-commit action 'boom' failed" in caplog.text
    assert len(chain.rows()) == 1 and chain.verify().ok


def test_concurrent_writers_leave_one_valid_checkpoint_per_transaction(chain: Chain) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> Callable[[], None]:
        def run() -> None:
            try:
                for k in range(10):
                    chain.write(f"thing.w{n}-{k}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=writer(n)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = chain.verify()
    assert result.ok, [str(p) for p in result.problems]
    assert (result.events, result.checkpoints, result.witnessed) == (40, 40, 40)


# ---- the quick check apply runs: the log's end against the newest checkpoint ---------------------


def recent(chain: Chain) -> list[Kind]:
    with chain.db.engine.connect() as conn:
        return [p.kind for p in audit.check_recent(conn, chain.key, chain.witness)]


def test_the_quick_check_passes_an_intact_log_and_names_each_attack(chain: Chain) -> None:
    assert recent(chain) == []
    eight(chain)
    assert recent(chain) == []
    rows = chain.rows()
    chain.rewrite([dict(r) for r in rows[:6]])
    assert recent(chain) == [Kind.TRUNCATED]
    chain.rewrite([])
    assert recent(chain) == [Kind.TRUNCATED]
    edited = [dict(r) for r in rows]
    edited[1]["explanation"] = "rewritten"
    chain.rewrite(edited)
    assert recent(chain) == [Kind.REWRITTEN]
    chain.rewrite([dict(r) for r in rows] + [{**rows[-1], "mac": None}])
    assert recent(chain) == [Kind.UNAUTHENTICATED]
    chain.witness.path.unlink()
    assert recent(chain) == [Kind.WITNESS_MISSING]


def test_the_newest_checkpoint_is_the_highest_seq_near_the_end(chain: Chain) -> None:
    for seq in (1, 2, 5, 3, 4):  # concurrent writers may append out of order
        chain.witness.append(chain.key, seq, f"sha256:{seq}", "now")
    with chain.witness.path.open("a") as out:
        out.write('{"seq": 99, "hash": "sha256:99", "at": "now", "sig": "AAAA"}\n')  # forged: ignored
    newest = chain.witness.newest(chain.key)
    assert newest is not None and (newest.seq, newest.hash) == (5, "sha256:5")
    for seq in range(6, 300):
        chain.witness.append(chain.key, seq, f"sha256:{seq}", "now")
    newest = chain.witness.newest(chain.key)
    assert newest is not None and newest.seq == 299
