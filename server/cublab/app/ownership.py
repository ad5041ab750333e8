"""Who may write to a sandbox and its experiments, and handing them over.

A sandbox and the experiments in it belong to the agent principal that created
them: the identity without its session (`agent:claude-desktop-session1` ->
`agent:claude-desktop`, domain/identity.py), so a later session of the same
agent carries on. Any agent may read them; only the owner may renew or destroy
the sandbox, add experiments to it, log variants or results, or promote a
variant (which destroys the sandbox). A human hands them over with
`cublab experiments transfer`: the experiment's sandbox and every experiment in
it move together, since they live and die together (renewal, destruction,
promotion act on the sandbox). Each move is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from cublab.app.common import existing, find
from cublab.app.context import AppContext
from cublab.domain.errors import Forbidden, InvalidInput
from cublab.domain.identity import Identity, fold_identity
from cublab.domain.text import has_visible_text
from cublab.store.tables import Experiment, Sandbox


def check_owner(owner: str, actor: Identity, *, what: str, object_id: str, field: str, doing: str) -> None:
    """Refuse `doing` to an agent that is not the owner's principal; the message says how ownership moves."""
    if fold_identity(owner) == actor.principal:  # `owner` already is a principal: never strip it again
        return
    raise Forbidden(
        f"{field}: {what} {object_id} belongs to {owner}; {actor} (principal {actor.principal}) may read it but "
        f"not {doing}. Spawn your own sandbox, or ask a human to hand it over: "
        f'`cublab experiments transfer <experiment_id> --to {actor} --reason "..."`'
    )


@dataclass(frozen=True)
class Transfer:
    sandbox_id: str
    experiment_ids: list[str]
    previous_owner: str
    owner: str


class Ownership:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def transfer(self, experiment_id: str, to: Identity, who: Identity, reason: str) -> Transfer:
        """Hand an experiment, its sandbox and the sandbox's other experiments to the principal of `to`."""
        if not who.is_human:
            raise Forbidden(f"as: ownership is handed over by humans; {who} is not 'human:<name>'")
        if not to.is_agent:
            raise InvalidInput(f"to: experiments belong to agents; {to} is not 'agent:<type>-<session>'")
        if not has_visible_text(reason):
            raise InvalidInput("reason: a transfer needs a reason with visible text; it is recorded in the audit log")
        with self.ctx.db.write() as session:
            experiment = find(session, Experiment, "experiment", experiment_id, "experiment_id")
            sandbox = existing(session, Sandbox, experiment.sandbox_id)
            previous = sandbox.owner
            moved = session.exec(select(Experiment).where(Experiment.sandbox_id == sandbox.id)).all()
            sandbox.owner = to.principal
            session.add(sandbox)
            for e in moved:
                e.owner = to.principal
                session.add(e)
            session.flush()
            ids = sorted(e.id for e in moved)
            self.ctx.record(
                session,
                who,
                "sandbox.transfer",
                "sandbox",
                sandbox.id,
                related={"experiment_id": experiment.id},
                explanation=reason,
                details={"from": previous, "to": to.principal, "experiments": ids},
            )
            for e in moved:
                self.ctx.record(
                    session,
                    who,
                    "experiment.transfer",
                    "experiment",
                    e.id,
                    related={"sandbox_id": sandbox.id},
                    explanation=reason,
                    details={"from": previous, "to": to.principal},
                )
        return Transfer(sandbox.id, ids, previous, to.principal)
