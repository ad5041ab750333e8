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
serialised), so exactly one of them writes and the other returns its answer.

A call that fails stores nothing: a retry after a refusal is a new call. Records
are kept for the policy's longest sandbox lifetime, then pruned by the next keyed
call or sandbox sweep (`cublab sandboxes reap`). The key itself is never stored
(a random key reads like a credential at rest); answers are built from rows that
passed the secret gate, and are checked again before they are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from cublab.app.context import AppContext
from cublab.app.guards import refuse_secrets
from cublab.app.inputs import Input
from cublab.domain.canonical import content_hash
from cublab.domain.errors import Conflict
from cublab.domain.identity import Identity
from cublab.store.tables import IdempotencyRecord

Answer = TypeVar("Answer", bound=BaseModel)
FIELD = "idempotency_key"


class _Taken(Exception):
    """A concurrent call with the same key committed first."""


def key_digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def arguments_digest(command: Input) -> str:
    """The digest of the arguments as validated (whitespace stripped, defaults filled), without the key."""
    return content_hash(command.model_dump(mode="json", exclude={FIELD}))


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
        scope = (actor.principal, tool, key_digest(key))
        arguments = arguments_digest(command)
        with self.ctx.db.read() as session:
            found = session.get(IdempotencyRecord, scope)
        if found is not None:
            return self._replay(found, tool, arguments, output)
        try:
            with self.ctx.db.enclosing() as session:
                now = self.ctx.clock()
                record = IdempotencyRecord(
                    principal=scope[0],
                    tool=tool,
                    key_digest=scope[2],
                    arguments_digest=arguments,
                    answer={},
                    created_at=now,
                )
                session.add(record)
                try:
                    session.flush()  # first: a concurrent call with this key waits here, then collides
                except IntegrityError:
                    raise _Taken from None
                answer = call()
                stored = answer.model_dump(mode="json")
                refuse_secrets("answer", stored)
                record.answer = stored
                session.add(record)
                self._prune(session, now - self.retention)
        except _Taken:
            with self.ctx.db.read() as session:
                found = session.get(IdempotencyRecord, scope)
            if found is None:  # taken and gone again: pruned in between, which retention makes impossible
                raise LookupError(f"idempotency record {scope[1]} {scope[2]} vanished") from None
            return self._replay(found, tool, arguments, output)
        return answer

    def _replay(self, found: IdempotencyRecord, tool: str, arguments: str, output: type[Answer]) -> Answer:
        if found.arguments_digest != arguments:
            raise Conflict(
                f"{FIELD}: this key was already used for a {tool} call with different arguments "
                f"(at {found.created_at.isoformat(timespec='seconds')}); a repeat must send the same arguments, "
                "and a new call needs a new key"
            )
        return output.model_validate(found.answer)

    def prune(self) -> int:
        """Forget records older than the retention; returns how many."""
        with self.ctx.db.write() as session:
            return self._prune(session, self.ctx.clock() - self.retention)

    @staticmethod
    def _prune(session: Session, before: object) -> int:
        result = session.connection().execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < before)
        )
        return int(result.rowcount or 0)
