"""Step 1 and 4 of the seed's agent workflow: sandboxes, the test environments experiments run in.

A sandbox bypasses the authority under the seed's criterion 7 and is ephemeral by
construction: it expires after its ttl and then refuses new experiments, variants and
results. Every mutation runs in one write transaction with its audit event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from types import SimpleNamespace
from typing import cast

from sqlalchemy import func
from sqlmodel import Session, select

from cublab.app.common import check_id, find, newest_rows
from cublab.app.context import AppContext
from cublab.app.expiry import sandbox_lapsed, sandbox_status, sandbox_status_is
from cublab.app.guards import refuse_secrets_in_labels, refuse_secrets_in_text
from cublab.app.inputs import DestroySandbox, ListSandboxes, RenewSandbox, SandboxRef, SpawnSandbox, label_map
from cublab.app.outputs import Criterion, SandboxPage, SandboxView
from cublab.app.ownership import check_owner
from cublab.app.quotas import enforce
from cublab.app.views import SandboxRow, sandbox_view
from cublab.domain.bypass import sandbox_eligibility
from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import Conflict, InvalidInput, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.states import SandboxStatus
from cublab.store import audit
from cublab.store.db import select_one
from cublab.store.tables import Sandbox, table_of

_sandboxes = table_of(Sandbox)


def label_value(name: str) -> str:
    """'Agent-Local Experimentation' -> 'agent-local-experimentation'."""
    return "-".join(name.lower().split())


class Sandboxes:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @cached_property
    def criterion(self) -> Criterion:
        """Sandboxes bypass the authority under the seed's criterion 7, as the policy names it."""
        criterion = self.ctx.policy.policy.bypass.criterion(7)
        return Criterion(number=criterion.number, name=criterion.name)

    def _view(self, sandbox: SandboxRow) -> SandboxView:
        return sandbox_view(sandbox, self.ctx.clock(), self.criterion)

    def _ttl(self, text: str | None, default: timedelta | None = None) -> timedelta:
        rules = self.ctx.policy.policy.sandbox
        ttl = parse_duration(text, "ttl") if text is not None else (default or rules.default_ttl)
        if ttl > rules.max_ttl:
            limit = format_duration(rules.max_ttl)
            raise InvalidInput(
                f"ttl: {text} is longer than the policy maximum of {limit}; ask for at most {limit} and renew if you need more"
            )
        return ttl

    def live(
        self, session: Session, sandbox_id: str, doing: str, actor: Identity | None = None, writing: str = ""
    ) -> Sandbox:
        """A sandbox that still accepts work; an expired or destroyed one refuses `doing`, and one that `actor`
        (when given) does not own refuses `writing` (e.g. "add experiments to it")."""
        sandbox = find(session, Sandbox, "sandbox", sandbox_id, "sandbox_id")
        if actor is not None:
            check_owner(sandbox.owner, actor, what="sandbox", object_id=sandbox.id, field="sandbox_id", doing=writing)
        self.refuse_unless_active(sandbox_id, sandbox.status, sandbox.expires_at, doing)
        return sandbox

    def refuse_unless_active(self, sandbox_id: str, stored_status: str, expires_at: datetime, doing: str) -> None:
        """An expired or destroyed sandbox refuses `doing` (`live`, for callers that read the row themselves)."""
        status = sandbox_status(stored_status, expires_at, self.ctx.clock())
        if status != "active":
            raise Conflict(
                f"sandbox_id: sandbox {sandbox_id} is {status}; it refuses {doing}. Spawn a new sandbox to keep experimenting"
            )

    def spawn(self, cmd: SpawnSandbox, actor: Identity) -> SandboxView:
        refuse_secrets_in_text(
            name=cmd.name, purpose=cmd.purpose, context=cmd.context, explanation=cmd.explanation
        )  # the context is audited
        extra = label_map(cmd.labels)
        refuse_secrets_in_labels("labels", extra)
        ttl = self._ttl(cmd.ttl)
        eligibility = sandbox_eligibility(
            self.ctx.policy.policy.bypass, ttl=ttl, context=cmd.context, labels=extra, name=cmd.name
        )
        if not eligibility.eligible:
            raise Conflict("; ".join(eligibility.problems))
        now = self.ctx.clock()
        labels = {
            **extra,
            "ephemeral": "true",
            "ttl": format_duration(ttl),
            "bypass-confighub": "true",
            "bypass-criterion": label_value(self.criterion.name),
        }
        sandbox = Sandbox(
            id=new_id("sandbox"),
            name=cmd.name,
            purpose=cmd.purpose,
            owner=actor.principal,
            ttl_seconds=int(ttl.total_seconds()),
            labels=labels,
            status=SandboxStatus.ACTIVE,
            created_by=str(actor),
            created_at=now,
            expires_at=now + ttl,
            destroyed_at=None,
        )
        with self.ctx.db.write() as session:
            enforce(self.ctx, session, actor, "live_sandboxes")
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
        return self._view(sandbox)

    def get(self, cmd: SandboxRef) -> SandboxView:
        """The hottest read goes straight through the driver (store.db.select_one)."""
        check_id("sandbox", cmd.sandbox_id, "sandbox_id")
        row = select_one(self.ctx.db.engine, _sandboxes, "id", cmd.sandbox_id)
        if row is None:
            raise NotFound(f"sandbox_id: no sandbox {cmd.sandbox_id} exists")
        return self._view(cast(SandboxRow, SimpleNamespace(**row)))  # the row has every column the view reads

    def renew(self, cmd: RenewSandbox, actor: Identity) -> SandboxView:
        refuse_secrets_in_text(explanation=cmd.explanation)
        with self.ctx.db.write() as session:
            sandbox = self.live(session, cmd.sandbox_id, "renewal", actor, "renew it")
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
        return self._view(sandbox)

    def destroy(self, cmd: DestroySandbox, actor: Identity) -> SandboxView:
        """Idempotent: destroying a destroyed sandbox changes nothing and writes no event."""
        refuse_secrets_in_text(explanation=cmd.explanation)
        with self.ctx.db.write() as session:
            sandbox = find(session, Sandbox, "sandbox", cmd.sandbox_id, "sandbox_id")
            check_owner(
                sandbox.owner, actor, what="sandbox", object_id=sandbox.id, field="sandbox_id", doing="destroy it"
            )
            if sandbox.status != "destroyed":
                self.destroy_in(session, sandbox, actor, cmd.explanation)
        return self._view(sandbox)

    def destroy_in(self, session: Session, sandbox: Sandbox, actor: Identity, explanation: str | None) -> None:
        """Destroy inside the caller's transaction (promotion destroys a live sandbox before step 5)."""
        was = sandbox_status(sandbox.status, sandbox.expires_at, self.ctx.clock())
        sandbox.status = SandboxStatus.DESTROYED
        sandbox.destroyed_at = self.ctx.clock()
        session.add(sandbox)
        session.flush()
        self.ctx.record(
            session, actor, "sandbox.destroy", "sandbox", sandbox.id, explanation=explanation, details={"was": was}
        )

    def reap(self, actor: Identity) -> list[str]:
        """Persist the expiry of every active sandbox past its time; one audit event each."""
        with self.ctx.db.write() as session:
            due = session.exec(select(Sandbox).where(sandbox_lapsed(self.ctx.clock()))).all()
            for sandbox in due:
                sandbox.status = SandboxStatus.EXPIRED
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

    def list(self, cmd: ListSandboxes) -> SandboxPage:
        now = self.ctx.clock()
        where = [sandbox_status_is(cmd.status, now)] if cmd.status else []
        with self.ctx.db.read() as session:
            page, next_cursor = newest_rows(session, _sandboxes, "sandbox", cmd.cursor, cmd.limit, *where)
        return SandboxPage(sandboxes=[self._view(cast(SandboxRow, s)) for s in page], next_cursor=next_cursor)

    def counts(self) -> dict[str, int]:
        """How many sandboxes are in each state now (the review console's inbox); expiry applies on read."""
        now = self.ctx.clock()
        with self.ctx.db.read() as session:
            return {
                status.value: session.exec(
                    select(func.count()).select_from(Sandbox).where(sandbox_status_is(status, now))
                ).one()
                for status in SandboxStatus
            }
