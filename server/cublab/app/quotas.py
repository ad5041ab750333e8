"""Quotas per agent: how much of the shared ledger one agent may hold or fill.

Counted per principal (every session of an agent together: `agent:claude-code-s1` and `-s2` share
`agent:claude-code`'s quota), from the policy's `quotas:` section unless a human set another value for that
principal (`cublab quotas set`, audited). Each check runs inside the write transaction of the use case it
guards, before anything is added, so a refused call writes nothing; the message names the quota, the count,
when it frees up and how a human raises it.

| quota | counts | frees up |
|---|---|---|
| live_sandboxes | the principal's active, unexpired sandboxes | when one is destroyed or expires |
| variants_per_experiment | the variants of the experiment | never (start another experiment) |
| points_per_hour | points the principal logged in the last 60 minutes | as batches age past an hour |
| open_proposals | the principal's pending, approved or queued, unexpired proposals | when one is decided or expires |

points_per_hour is checked on every `result_log`, so it costs two index seeks whatever the number of batches: each
batch row carries its principal's running total of points (store/results.py insert_batch), and the hour's points are
the latest total less the total of the last batch logged an hour ago or earlier. Totals follow the batches' times,
so a clock stepping back by d can miscount, for an hour, the points logged within d.

The count is exact under concurrency on both databases: before counting, the check serialises the writers of
the same quota and principal (the same experiment, for variants_per_experiment) until its transaction ends
(`store.db.serialize`: SQLite's writers already run one at a time; PostgreSQL takes a transaction-scoped
advisory lock), so two simultaneous calls, from one replica or several, cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from cublab.app.context import AppContext
from cublab.domain.errors import Conflict, Forbidden, InvalidInput
from cublab.domain.identity import Identity, principal_of
from cublab.domain.policy import QUOTA_NAMES
from cublab.domain.states import ProposalState, SandboxStatus
from cublab.store import results
from cublab.store.db import serialize
from cublab.store.tables import Proposal, QuotaOverride, ResultBatch, Sandbox, Variant

HOUR = timedelta(hours=1)
_OPEN = (ProposalState.PENDING, ProposalState.APPROVED, ProposalState.QUEUED)


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def limit(ctx: AppContext, session: Session, principal: str, name: str) -> int:
    """The quota in force for `principal`: a human's override, else the policy's. Read through the driver, once per
    check (every result_log makes one): SQLAlchemy's execution costs twenty times the primary-key lookup itself."""
    value = results.quota_override(session.connection(), principal, name)
    return value if value is not None else int(getattr(ctx.policy.policy.quotas, name))


def _refuse(principal: str, name: str, count: str, quota: int, frees: str) -> Conflict:
    return Conflict(
        f"quota {name}: {principal} {count}, and its quota is {quota}; {frees}. "
        f"A human can raise it: cublab quotas set --agent {principal} --name {name} --value <n>"
    )


def enforce(
    ctx: AppContext, session: Session, actor: Identity, name: str, *, adding: int = 1, experiment_id: str | None = None
) -> None:
    """Refuse (Conflict) when `actor`'s principal would go over quota `name` by adding `adding`."""
    principal = actor.principal
    serialize(session, f"quota/{name}/{experiment_id if name == 'variants_per_experiment' else principal}")
    quota = limit(ctx, session, principal, name)
    now = ctx.clock()
    if name == "live_sandboxes":
        expiries = session.exec(
            select(Sandbox.expires_at).where(
                Sandbox.owner == principal, Sandbox.status == SandboxStatus.ACTIVE, col(Sandbox.expires_at) > now
            )
        ).all()
        if len(expiries) + adding > quota:
            raise _refuse(
                principal,
                name,
                f"has {len(expiries)} live sandboxes",
                quota,
                f"one frees up when you destroy one (sandbox_destroy) or at the latest at {_at(min(expiries))}, "
                "when the next expires",
            )
    elif name == "variants_per_experiment":
        count = session.exec(select(func.count()).where(Variant.experiment_id == experiment_id)).one()
        if count + adding > quota:
            raise _refuse(
                principal,
                name,
                f"has logged {count} variants in experiment {experiment_id}",
                quota,
                "variants are never removed, so this does not free up: start another experiment",
            )
    elif name == "points_per_hour":
        since = now - HOUR
        used = results.points_since(session.connection(), principal, since)  # two index seeks, whatever the count
        if used + adding > quota:
            if adding > quota:
                raise _refuse(principal, name, f"sent {adding} points in one call", quota, "send fewer points per call")
            batches = session.exec(  # only on a refusal: when enough of the hour's batches will have aged out
                select(ResultBatch.created_at, ResultBatch.point_count)
                .where(ResultBatch.principal == principal, col(ResultBatch.created_at) > since)
                .order_by(col(ResultBatch.created_at))
            ).all()
            freed, when = used, now
            for at, n in batches:  # the oldest batches age out first
                if freed + adding <= quota:
                    break
                freed, when = freed - n, at + HOUR
            raise _refuse(
                principal,
                name,
                f"logged {used} points in the last hour and sent {adding} more",
                quota,
                f"enough frees up at {_at(when)}",
            )
    elif name == "open_proposals":
        rows = session.exec(
            select(Proposal.proposer, Proposal.expires_at).where(
                col(Proposal.state).in_(_OPEN), col(Proposal.expires_at) > now
            )
        ).all()
        expiries = [expires for who, expires in rows if principal_of(who) == principal]
        if len(expiries) + adding > quota:
            raise _refuse(
                principal,
                name,
                f"has {len(expiries)} open proposals",
                quota,
                f"one frees up when humans decide one, or at the latest at {_at(min(expiries))}, when the next expires",
            )
    else:
        raise AssertionError(f"unknown quota {name}")


@dataclass(frozen=True)
class QuotaValue:
    principal: str
    name: str
    value: int
    source: str  # "policy" or "set by <who> at <when>"


class Quotas:
    """The quotas in force and a human's changes to them."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def effective(self, principal: str) -> list[QuotaValue]:
        with self.ctx.db.read() as session:
            overrides = {
                o.name: o for o in session.exec(select(QuotaOverride).where(QuotaOverride.principal == principal))
            }
        policy = self.ctx.policy.policy.quotas
        return [
            QuotaValue(principal, name, o.value, f"set by {o.set_by} at {_at(o.set_at)}")
            if (o := overrides.get(name)) is not None
            else QuotaValue(principal, name, int(getattr(policy, name)), "policy")
            for name in QUOTA_NAMES
        ]

    def set(self, agent: Identity, name: str, value: int, who: Identity, reason: str | None = None) -> QuotaValue:
        """Set quota `name` for the agent's principal (every session of it); audited with the previous value."""
        if not who.is_human:
            raise Forbidden(f"as: quotas are set by humans; {who} is not 'human:<name>'")
        if not agent.is_agent:
            raise InvalidInput(f"agent: quotas apply to agents; {agent} is not 'agent:<type>-<name>'")
        if name not in QUOTA_NAMES:
            raise InvalidInput(f"name: {name!r} is not a quota; choose from {', '.join(QUOTA_NAMES)}")
        if not 1 <= value <= 1_000_000_000:
            raise InvalidInput(f"value: {value} is outside 1 to 1,000,000,000")
        principal = principal_of(agent.value)
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            before = limit(self.ctx, session, principal, name)
            row = session.get(QuotaOverride, (principal, name)) or QuotaOverride(
                principal=principal, name=name, value=value, set_by=who.value, set_at=now
            )
            row.value, row.set_by, row.set_at = value, who.value, now
            session.add(row)
            self.ctx.record(
                session,
                who,
                "quota.set",
                "quota",
                f"{principal}/{name}",
                explanation=reason,
                details={"principal": principal, "name": name, "value": value, "previous": before},
            )
        return QuotaValue(principal, name, value, f"set by {who.value} at {_at(now)}")
