"""`bypass_check`: may this change bypass the authority, under which criterion, owing what?

The engine (domain/bypass/) decides; this use case gathers the evidence it may let
a change skip the authority on, which the caller cannot be trusted to claim: the
secret paths found by the gate, cublab's own probe of the configured authority,
the space's tier label as the authority holds it, whether the caller's incident
was declared with `breakglass_declare` and is still open, and whether a sandbox it
names is live. The caller's own claims go to the engine as claims, which can only
make the answer stricter. The decision goes to the decision log: a digest of the
inputs, a subject without values (nothing derived from a flagged value, by JSON
path and kind only), the provenance of each fact, and an audit event chaining it
into the tamper-evident log. Checking creates nothing else: an undeclared
incident stays undeclared.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jsonpointer import JsonPointerException, resolve_pointer
from pydantic import ValidationError
from sqlalchemy import insert
from sqlmodel import Session, col, select

from cublab.app.common import check_id
from cublab.app.context import AppContext
from cublab.app.errors import invalid_input
from cublab.app.expiry import sandbox_status
from cublab.app.governance import not_governed_space
from cublab.app.guards import parse_config, refuse_secrets_in_text
from cublab.app.inputs import BypassCheck, label_map
from cublab.app.outputs import BypassAnswer
from cublab.app.views import obligation_view
from cublab.authority.errors import AuthorityAuthFailed, AuthorityUnavailable
from cublab.domain.bypass import BypassDecision, ChangeFacts, Evidence, IncidentCheck, SandboxCheck, decide
from cublab.domain.canonical import content_hash
from cublab.domain.errors import InvalidInput
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.pointers import pointer
from cublab.domain.secrets import Finding, find_secrets, find_secrets_in_text
from cublab.domain.states import ObligationStatus
from cublab.store.tables import Decision, Incident, Obligation, Sandbox, table_of

# Built once: a decision is one Core insert (the column types still write its JSON and its time), not an ORM
# object and a flush; the decision log is written on every bypass_check, which agents call before every change.
_INSERT_DECISION = insert(table_of(Decision))


def flagged_literals(flagged: list[tuple[Any, Finding]]) -> dict[str, str]:
    """Each flagged value, mapped to what may be said of it (its JSON path and kind); held only long
    enough to make sure none is stored."""
    found: dict[str, str] = {}
    for root, finding in flagged:
        try:
            value = resolve_pointer(root, finding.path)
        except JsonPointerException:
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if text.strip():
            found.setdefault(text, str(finding))
    return found


def scrub(value: Any, literals: dict[str, str]) -> Any:
    """`value` with every flagged literal replaced by its JSON path and kind: the last guard before storage."""
    if isinstance(value, str):
        for literal in sorted(literals, key=len, reverse=True):  # longest first, so no part of one survives
            if literal in value:
                value = value.replace(literal, f"<{literals[literal]}>")
        return value
    if isinstance(value, list):
        return [scrub(v, literals) for v in value]
    if isinstance(value, dict):
        return {scrub(k, literals): scrub(v, literals) for k, v in value.items()}
    return value


class BypassService:
    def __init__(self, ctx: AppContext, overdue: Callable[[Session], list[str]]) -> None:
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
        # A label key is a name stored in the subject: one that is a literal secret is refused, by position
        # (a secret label *value* is a finding the answer classifies, criterion 5).
        labels = label_map(cmd.labels)
        for n, key in enumerate(labels, start=1):
            kinds = sorted({f.kind for f in find_secrets_in_text(key)})
            if kinds:
                raise InvalidInput(
                    f"labels: key number {n} is a literal secret ({', '.join(kinds)}); label keys are names and are "
                    "stored in the decision log, so a secret never goes there"
                )
        if cmd.sandbox_id is not None:
            check_id("sandbox", cmd.sandbox_id, "sandbox_id")
        document = parse_config(cmd.document, "document") if cmd.document is not None else None
        labels_root = {"labels": labels}
        flagged: list[tuple[Any, Finding]] = (
            [(document, f) for f in find_secrets(document)] if document is not None else []
        )
        flagged += [(labels_root, f) for f in find_secrets(labels_root)] if labels else []
        findings = [f for _, f in flagged]
        evidence = self.evidence(cmd.space, cmd.incident_id, cmd.sandbox_id)
        try:
            facts = ChangeFacts(
                kind=cmd.kind,
                name=cmd.name,
                space=cmd.space,
                namespace=cmd.namespace,
                context=cmd.context,
                labels=labels,
                ttl=cmd.ttl,
                persist=cmd.persist,
                document=document,
                confighub_reachable=cmd.confighub_reachable,
                incident_id=cmd.incident_id,
                sandbox_id=cmd.sandbox_id,
                adds_value=cmd.adds_value,
                secret_paths=[f.path for f in findings],
                verified=evidence,
            )
        except ValidationError as exc:  # e.g. a ttl the engine cannot read
            raise invalid_input(exc) from None
        decision = decide(facts, self.ctx.policy.policy.bypass)
        # Nothing derived from a flagged value is stored: a flagged label is left out (its path is escaped
        # the way the gate names it, so a key holding '/' is matched too), and any flagged literal that
        # reached a reason is replaced by its JSON path and kind.
        flagged_paths = {f.path for f in findings}
        literals = flagged_literals(flagged)
        subject = {
            "kind": facts.kind,
            "name": facts.name,
            "space": facts.space,
            "namespace": facts.namespace,
            "context": facts.context,
            "labels": {k: v for k, v in facts.labels.items() if pointer(["labels", k]) not in flagged_paths},
            "ttl": str(facts.ttl) if facts.ttl else None,
            "persist": facts.persist,
            "confighub_reachable": facts.confighub_reachable,
            "incident_id": facts.incident_id,
            "sandbox_id": facts.sandbox_id,
            "adds_value": facts.adds_value,
            "secret_paths": facts.secret_paths,
            "document_digest": content_hash(document) if document is not None else None,
            "evidence": [f.model_dump(mode="json") for f in decision.facts],
        }
        if literals:
            decision = BypassDecision.model_validate(scrub(decision.model_dump(mode="json"), literals))
            subject = scrub(subject, literals)
        decision_id = new_id("decision")
        row: dict[str, Any] = {
            "id": decision_id,
            "actor": str(actor),
            "verdict": decision.verdict,
            "criterion": decision.criterion.number if decision.criterion else None,
            "also_matched": [c.number for c in decision.also_matched],
            "path": decision.path,
            "reasons": decision.reasons,
            "reconciliation": decision.reconciliation.model_dump(mode="json") if decision.reconciliation else {},
            "audit_requirement": decision.audit_requirement or "",
            "subject": subject,
            "inputs_digest": content_hash(cmd.model_dump(mode="json")),
            "policy_digest": self.ctx.policy.digest,
            "created_at": self.ctx.clock(),
        }
        # One transaction: the decision, its audit event, and the overdue obligations the answer reports.
        with self.ctx.db.write() as session:
            session.connection().execute(_INSERT_DECISION, row)
            self.ctx.record(
                session,
                actor,
                "bypass.decide",
                "decision",
                decision_id,
                details={
                    "verdict": row["verdict"],
                    "criterion": row["criterion"],
                    "inputs_digest": row["inputs_digest"],
                    "policy": row["policy_digest"],
                },
            )
            warnings = self._overdue(session)
        # The decision's fields as they are (nested models are not validated again).
        return BypassAnswer(
            **dict(decision),
            decision_id=decision_id,
            policy_version=self.ctx.policy.digest,
            warnings=[*self._ungoverned(cmd.space, evidence), *warnings],
        )

    def _ungoverned(self, space: str | None, evidence: Evidence) -> list[str]:
        """A named space the authority does not hold (read, and found missing): the governed path the answer
        may point to does not exist yet, and the agent should say which human command opens it."""
        if not space or evidence.space_tier != "" or not evidence.confighub_reachable:
            return []
        with self.ctx.db.read() as session:
            authority = self.ctx.authority(session)
            try:
                if authority.get_space(space) is not None:
                    return []
            except (AuthorityUnavailable, AuthorityAuthFailed):
                return []
            return [str(not_governed_space("space", authority.name, space))]

    def evidence(self, space_slug: str | None, incident_id: str | None, sandbox_id: str | None) -> Evidence:
        """What cublab checks itself: its probe of the configured authority, the space's tier there, the
        incident as declared (open while any of its obligations is not met), the sandbox as held. The guard
        (app/guard.py) gathers its evidence here too, so both answer on the same facts."""
        now = self.ctx.clock()
        tier_label = self.ctx.policy.policy.promotion.tier_label
        with self.ctx.db.read() as session:
            authority = self.ctx.authority(session)
            reachable = authority.reachable()
            tier = None
            if space_slug and reachable:
                try:
                    space = authority.get_space(space_slug)
                except (AuthorityUnavailable, AuthorityAuthFailed):
                    space = None  # not read: the tier stays unknown, and names alone decide
                else:
                    tier = "" if space is None else space.labels.get(tier_label, "")
            incident = None
            if incident_id:
                row = session.get(Incident, incident_id)
                if row is None:
                    state = "undeclared"
                else:
                    obligations = session.exec(select(Obligation).where(Obligation.incident_id == row.id)).all()
                    views = [obligation_view(session, ob, now) for ob in obligations]
                    state = "open" if any(v.status != ObligationStatus.MET for v in views) else "closed"
                incident = IncidentCheck.model_validate({"id": incident_id, "state": state})
            sandbox = None
            if sandbox_id:
                found = session.get(Sandbox, sandbox_id)
                if found is None:
                    sandbox = SandboxCheck(id=sandbox_id, state="unknown")
                else:
                    status = sandbox_status(found.status, found.expires_at, now)
                    sandbox = SandboxCheck.model_validate(
                        {
                            "id": sandbox_id,
                            "state": str(status),
                            "remaining": found.expires_at - now if status == "active" else None,
                        }
                    )
        return Evidence(confighub_reachable=reachable, space_tier=tier, incident=incident, sandbox=sandbox)

    def decisions(
        self, *, verdict: str | None = None, criterion: int | None = None, actor: str | None = None, limit: int = 50
    ) -> list[Decision]:
        """The decision log, newest first, for humans (`cublab decisions list`): bypass_check's verdicts and
        the guard's (allow, deny, ask)."""
        verdicts = ("bypass", "bypass_then_reconcile", "use_confighub", "allow", "deny", "ask")
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
