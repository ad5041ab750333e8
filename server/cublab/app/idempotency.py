"""Idempotency keys: a mutating call retried with the same key is carried out once.

An agent that loses an answer (a dropped connection, a killed server, a timeout)
cannot know whether its call was carried out; with an `idempotency_key` it calls
again. The first call stores, in its own write transaction (the use case's writes,
the key and the answer commit together or not at all, `Database.enclosing`), a
digest of the key, a digest of its arguments and its answer. A repeat by the same
principal to the same tool with the same key and arguments gets that answer back
and writes nothing, not even an audit event; the same key with other arguments is
refused. Two concurrent calls with one key collide on the record's primary key
(PostgreSQL makes the second wait for the first to commit; SQLite's writers are
serialised), so exactly one of them writes and the other returns its answer. A
repeat is answered from the record even while the database takes no writes (a full
disk, a read-only file or session): that is when an agent retries.

A call that fails stores nothing: a retry after a refusal is a new call. Records
are kept for the policy's longest sandbox lifetime, then pruned (a few at a time by
each keyed call, all of them by the sandbox sweep, `cublab sandboxes reap`). The key itself is never stored
(a random key reads like a credential at rest). An answer is built from rows that
passed the secret gate and is not gated again (the document gate reads ids and
digests differently from the text gate, and a keyed call must not fail where the
same call without a key succeeds); tests/app/test_no_secret_at_rest.py makes every
call with a key, so an answer that carried a literal would be found at rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Row, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cublab.app.context import AppContext
from cublab.app.faults import classify
from cublab.app.inputs import Input
from cublab.domain.errors import Conflict
from cublab.domain.identity import Identity
from cublab.store.tables import IdempotencyRecord, table_of

Answer = TypeVar("Answer", bound=BaseModel)
FIELD = "idempotency_key"
_records = table_of(IdempotencyRecord)
PRUNE_BATCH = 200  # records a keyed call forgets at most, so its own cost stays bounded
# Built once: a keyed call claims, answers and prunes on every call, and building those statements cost more than
# the key's row itself (a keyed 1,000-point result_log was half as dear again as an unkeyed one).
_c = _records.c
_THIS = (_c.principal == bindparam("p"), _c.tool == bindparam("t"), _c.key_digest == bindparam("k"))
_FIND = select(_c.arguments_digest, _c.answer, _c.created_at).where(*_THIS)
_CLAIM = insert(_records)
_ANSWER = update(_records).where(*_THIS).values(answer=bindparam("a"))
_STALE = (
    select(_c.principal, _c.tool, _c.key_digest)
    .where(_c.created_at < bindparam("before"))
    .order_by(_c.created_at)
    .limit(PRUNE_BATCH)
    .with_for_update(skip_locked=True)
)
_PRUNE = delete(_records).where(tuple_(_c.principal, _c.tool, _c.key_digest).in_(_STALE))


class _Taken(Exception):
    """A concurrent call with the same key committed first."""


def key_digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def arguments_digest(command: Input) -> str:
    """The digest of the arguments as validated (whitespace stripped, defaults filled), without the key.

    Pydantic writes the JSON (several times faster than `json.dumps` over a 10,000-point batch); mappings an
    agent sends (a configuration, labels) are put in key order first, so a retry that orders them otherwise
    is still the same call."""
    mappings = {name: _sorted(value) for name, value in command if isinstance(value, dict)}
    canonical = command.model_copy(update=mappings) if mappings else command
    return "sha256:" + hashlib.sha256(canonical.model_dump_json(exclude={FIELD}).encode("utf-8")).hexdigest()


class Idempotency:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def retention(self) -> timedelta:
        """At least as long as any sandbox lives without renewal: the window in which a retry still makes sense."""
        return self.ctx.policy.policy.sandbox.max_ttl

    def run(
        self, tool: str, command: Input, actor: Identity, output: type[Answer], call: Callable[[], Answer]
    ) -> Answer:
        """`call()` once per key: the first answer, or (a repeat) that answer again without writing anything."""
        key = getattr(command, FIELD, None)
        if key is None:
            return call()
        scope = {"p": actor.principal, "t": tool, "k": key_digest(key)}
        arguments = arguments_digest(command)
        try:
            with self.ctx.db.enclosing() as session:
                conn = session.connection()
                now = self.ctx.clock()
                record = {"principal": scope["p"], "tool": tool, "key_digest": scope["k"]}
                # The key is claimed first, without looking for it: a first call (the common case) reads nothing more,
                # a repeat collides with the record and reads it below, and a concurrent call with the same key
                # waits here (PostgreSQL) until the first commits, then collides.
                try:
                    conn.execute(_CLAIM, {**record, "arguments_digest": arguments, "answer": {}, "created_at": now})
                except IntegrityError:
                    raise _Taken from None
                answer = call()
                conn.execute(_ANSWER, {**scope, "a": answer.model_dump(mode="json")})
                self._prune(session, now - self.retention)
        except _Taken:
            found = self._find(scope)
            if found is None:  # taken and gone again: pruned in between, which retention makes impossible
                raise LookupError(f"idempotency record {tool} {scope['k']} vanished") from None
            return self._replay(found, tool, arguments, output)
        except Exception as exc:
            # A database that takes no writes (a full disk, a read-only file or session) still answers a repeat
            # of a call that was carried out before: the retry an agent makes after losing that answer.
            if classify(exc) is None:
                raise
            try:
                found = self._find(scope)
            except Exception:
                found = None
            if found is None:
                raise
            return self._replay(found, tool, arguments, output)
        return answer

    def _find(self, scope: dict[str, str]) -> Row[Any, Any, Any] | None:
        """The record of this key: read only once a claim has failed (a repeat, or a call that met a fault)."""
        with self.ctx.db.read() as session:
            return session.connection().execute(_FIND, scope).first()

    def _replay(self, found: Row[Any, Any, Any], tool: str, arguments: str, output: type[Answer]) -> Answer:
        if found.arguments_digest != arguments:
            raise Conflict(
                f"{FIELD}: this key was already used for a {tool} call with different arguments "
                f"(at {found.created_at.isoformat(timespec='seconds')}); a repeat must send the same arguments, "
                "and a new call needs a new key"
            )
        try:
            return output.model_validate(found.answer)
        except ValidationError:  # stored by a cublab whose answer had another shape
            raise Conflict(
                f"{FIELD}: the first answer to this {tool} call was stored by an earlier version of cublab and "
                "cannot be returned again; read the result with a read-only tool, or use a new key for a new call"
            ) from None

    def prune(self) -> int:
        """Forget every record older than the retention (the sandbox sweep); returns how many."""
        pruned = 0
        while True:
            with self.ctx.db.write() as session:
                n = self._prune(session, self.ctx.clock() - self.retention)
            pruned += n
            if n < PRUNE_BATCH:
                return pruned

    @staticmethod
    def _prune(session: Session, before: datetime) -> int:
        """Up to PRUNE_BATCH old records, oldest first. On PostgreSQL rows another transaction is pruning are
        skipped (SKIP LOCKED), so two keyed calls pruning at once never wait on, or deadlock with, each other;
        SQLite's writers are serialised anyway (and it has no FOR UPDATE, which SQLAlchemy leaves out there)."""
        result = session.connection().execute(_PRUNE, {"before": before})
        return int(result.rowcount or 0)
