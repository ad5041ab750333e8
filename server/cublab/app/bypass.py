"""`bypass_check`: may this change bypass the authority, under which criterion, owing what?

The engine (domain/bypass.py) decides; this use case feeds it what cublab knows
and the caller cannot be trusted to claim (the secret paths found by the gate,
whether the authority is reachable), and writes the decision to the decision
log. The log keeps a digest of the inputs and a summary without values, and an
audit event chains each decision into the tamper-evident log.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError
from sqlmodel import col, select

from cublab.app.context import AppContext
from cublab.app.errors import invalid_input
from cublab.app.guards import refuse_oversized, refuse_secrets_in_text
from cublab.app.inputs import BypassCheck
from cublab.app.outputs import BypassAnswer
from cublab.domain.bypass import ChangeFacts, decide
from cublab.domain.canonical import content_hash
from cublab.domain.errors import InvalidInput
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.secrets import find_secrets
from cublab.store.tables import Decision


class BypassService:
    def __init__(self, ctx: AppContext, overdue: Callable[[], list[str]]) -> None:
        self.ctx = ctx
        self._overdue = overdue  # loud lines for overdue obligations, on every answer

    def check(self, cmd: BypassCheck, actor: Identity) -> BypassAnswer:
        # The described fields are stored in the decision log's subject: no literal secret may ride in them.
        refuse_secrets_in_text(
            kind=cmd.kind,
            name=cmd.name,
            space=cmd.space,
            namespace=cmd.namespace,
            context=cmd.context,
            incident_id=cmd.incident_id,
        )
        if cmd.document is not None:
            refuse_oversized("document", cmd.document)
        findings = find_secrets(cmd.document) if cmd.document is not None else []
        findings += find_secrets({"labels": cmd.labels}) if cmd.labels else []
        reachable = cmd.confighub_reachable
        if reachable is None:
            with self.ctx.db.read() as session:
                reachable = self.ctx.authority(session).reachable()
        try:
            facts = ChangeFacts(
                kind=cmd.kind,
                name=cmd.name,
                space=cmd.space,
                namespace=cmd.namespace,
                context=cmd.context,
                labels=cmd.labels,
                ttl=cmd.ttl,
                persist=cmd.persist,
                document=cmd.document,
                confighub_reachable=reachable,
                incident_id=cmd.incident_id,
                adds_value=cmd.adds_value,
                secret_paths=[f.path for f in findings],
            )
        except ValidationError as exc:  # e.g. a ttl the engine cannot read
            raise invalid_input(exc) from None
        decision = decide(facts, self.ctx.policy.policy.bypass)
        subject = {
            "kind": facts.kind,
            "name": facts.name,
            "space": facts.space,
            "namespace": facts.namespace,
            "context": facts.context,
            "labels": {k: v for k, v in facts.labels.items() if not any(f.path == f"/labels/{k}" for f in findings)},
            "ttl": str(facts.ttl) if facts.ttl else None,
            "persist": facts.persist,
            "confighub_reachable": reachable,
            "incident_id": facts.incident_id,
            "adds_value": facts.adds_value,
            "secret_paths": facts.secret_paths,
            "document_digest": content_hash(cmd.document) if cmd.document is not None else None,
        }
        row = Decision(
            id=new_id("decision"),
            actor=str(actor),
            verdict=decision.verdict,
            criterion=decision.criterion.number if decision.criterion else None,
            also_matched=[c.number for c in decision.also_matched],
            path=decision.path,
            reasons=decision.reasons,
            reconciliation=decision.reconciliation.model_dump(mode="json") if decision.reconciliation else {},
            audit_requirement=decision.audit_requirement or "",
            subject=subject,
            inputs_digest=content_hash(cmd.model_dump(mode="json")),
            policy_digest=self.ctx.policy.digest,
            created_at=self.ctx.clock(),
        )
        with self.ctx.db.write() as session:
            session.add(row)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "bypass.decide",
                "decision",
                row.id,
                details={
                    "verdict": row.verdict,
                    "criterion": row.criterion,
                    "inputs_digest": row.inputs_digest,
                    "policy": row.policy_digest,
                },
            )
        return BypassAnswer(
            **decision.model_dump(), decision_id=row.id, policy_version=self.ctx.policy.digest, warnings=self._overdue()
        )

    def decisions(
        self, *, verdict: str | None = None, criterion: int | None = None, actor: str | None = None, limit: int = 50
    ) -> list[Decision]:
        """The decision log, newest first, for humans (`cublab decisions list`)."""
        verdicts = ("bypass", "bypass_then_reconcile", "use_confighub")
        if verdict is not None and verdict not in verdicts:
            raise InvalidInput(f"verdict: {verdict!r} is not one of {', '.join(verdicts)}")
        if criterion is not None and not 1 <= criterion <= 8:
            raise InvalidInput(f"criterion: {criterion} is not a criterion number (1 to 8)")
        query = select(Decision).order_by(col(Decision.id).desc()).limit(limit)
        if verdict:
            query = query.where(Decision.verdict == verdict)
        if criterion is not None:
            query = query.where(Decision.criterion == criterion)
        if actor:
            query = query.where(Decision.actor == actor)
        with self.ctx.db.read() as session:
            return list(session.exec(query).all())
