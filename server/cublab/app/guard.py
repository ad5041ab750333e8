"""`cublab guard`: may the agent run this command outside cublab? Allow, deny or ask.

The policy decision point for what agents do with a shell: the domain reads the command
(domain/guard/), and this use case gives it what only a process can: the text of the
files the command applies (read relative to the caller's working directory, or passed in
by the caller), the kubectl context a command does not name (the kubeconfig's
current-context), and the evidence `bypass_check` rests on, gathered by the same code
(`BypassService.evidence`: cublab's probe of the authority, the space's tier, the
incident as declared, the sandbox as held). Each change goes to the same engine
(`decide`) with the same `ChangeFacts` as `bypass_check` would build, so the guard and
the tool can never disagree.

Known read-only commands are answered without asking the authority. Every answer is
written to the decision log (the `bypass_decision` table, verdict allow/deny/ask, the
command in the subject, redacted by the secret gate or withheld whole), with an audit
event, under the identity of the agent the guard runs for.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cublab.app.bypass import BypassService, flagged_literals, scrub
from cublab.app.common import check_id
from cublab.app.context import AppContext
from cublab.app.guards import refuse_secrets_in_text
from cublab.authority.errors import AuthorityAuthFailed, AuthorityUnavailable
from cublab.domain.bypass import BypassDecision, Evidence, decide
from cublab.domain.canonical import content_hash
from cublab.domain.errors import InvalidInput
from cublab.domain.guard import (
    GuardDecision,
    GuardTarget,
    Source,
    judge_action,
    judge_decision,
    parse_command,
    plan_changes,
    redact,
    strictest,
    unresolved_target,
)
from cublab.domain.guard.verdict import UNKNOWN_PATH
from cublab.domain.identity import Identity
from cublab.domain.ids import new_id
from cublab.domain.secrets import Finding, find_secrets_in_text
from cublab.store.tables import Decision

MAX_COMMAND_BYTES = 256 * 1024
MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 4 * MAX_FILE_BYTES
MAX_FILES = 200
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def current_kube_context(env: Mapping[str, str]) -> str | None:
    """The kubeconfig's current-context, as kubectl resolves it: the first file of KUBECONFIG that sets one."""
    import yaml

    named = env.get("KUBECONFIG")
    paths = [p for p in named.split(os.pathsep) if p] if named else [str(Path.home() / ".kube" / "config")]
    for path in paths:
        try:
            text = Path(path).expanduser().read_text()
        except (OSError, UnicodeDecodeError):
            continue
        try:
            loaded = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            continue
        if isinstance(loaded, dict) and isinstance(loaded.get("current-context"), str) and loaded["current-context"]:
            return str(loaded["current-context"])
    return None


def _read(path: str, cwd: Path) -> Source:
    """A file the command names, as it would read it: a regular file, a directory's manifests, or a glob."""
    if "://" in path:
        return Source(None, "a URL: the guard does not fetch it")
    where = (cwd / Path(path).expanduser()) if not Path(path).expanduser().is_absolute() else Path(path).expanduser()
    matches = [Path(p) for p in sorted(glob.glob(str(where)))] if any(c in path for c in "*?[") else [where]
    files: list[Path] = []
    for m in matches:
        if m.is_dir():
            files += sorted(p for p in m.iterdir() if p.is_file() and p.suffix in _MANIFEST_SUFFIXES)
        else:
            files.append(m)
    if not files:
        return Source(None, "no such file")
    if len(files) > MAX_FILES:
        return Source(None, f"{len(files)} files, over the guard's limit of {MAX_FILES}")
    texts = []
    total = 0
    for f in files:
        try:
            size = f.stat().st_size
            total += size
            if size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
                return Source(None, f"{f.name} is over the guard's limit (1 MiB a file, 4 MiB in all)")
            texts.append(f.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            return Source(None, f"cannot be read ({exc.__class__.__name__})")
    return Source("\n---\n".join(texts))


class GuardService:
    def __init__(self, ctx: AppContext, bypass: BypassService) -> None:
        self.ctx = ctx
        self.bypass = bypass

    def check(
        self,
        command: str | Sequence[str],
        actor: Identity,
        *,
        cwd: str | None = None,
        files: Mapping[str, str] | None = None,
        incident_id: str | None = None,
        sandbox_id: str | None = None,
        kube_context: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> GuardDecision:
        """The guard's answer for `command`, written to the decision log."""
        text = command if isinstance(command, str) else " ".join(command)
        if not text.strip():
            raise InvalidInput("command: empty; give the command the agent is about to run")
        if len(text.encode("utf-8")) > MAX_COMMAND_BYTES:
            raise InvalidInput(f"command: over the guard's limit of {MAX_COMMAND_BYTES:,} bytes")
        refuse_secrets_in_text(incident_id=incident_id, kube_context=kube_context)
        if sandbox_id:
            check_id("sandbox", sandbox_id, "sandbox_id")
        environ = os.environ if env is None else env
        base = Path(cwd) if cwd else Path.cwd()
        parsed = parse_command(command if isinstance(command, str) else list(command))
        policy = self.ctx.policy.policy.bypass
        targets: list[GuardTarget] = []
        decisions: dict[int, BypassDecision] = {}
        notes: list[str] = []
        flagged: list[tuple[Any, Finding]] = []
        evidence: dict[str | None, Evidence] = {}
        extra: dict[str, str] = {}
        default_context: str | None = kube_context
        context_read = kube_context is not None
        for problem in parsed.problems:
            targets.append(
                GuardTarget(
                    tool="shell",
                    action="parse",
                    effect="unknown",
                    verdict="deny",
                    reason=f"unparseable: {problem}; a command the guard cannot read is denied, never allowed by default",
                    governed_path=UNKNOWN_PATH,
                )
            )
        for action in parsed.actions:
            if action.effect != "write":
                target = judge_action(action)
                if action.effect == "authority_write" and action.space:
                    target = target.model_copy(
                        update={"reason": target.reason + self._governance(action.space, action.unit)}
                    )
                targets.append(target)
                continue
            why = unresolved_target(action)
            if why:
                targets.append(
                    judge_action(replace(action, effect="unknown", why=f"`{action.tool} {action.verb}`: {why}"))
                )
                continue
            if action.tool in ("kubectl", "oc", "helm") and action.context is None and not context_read:
                default_context, context_read = current_kube_context(environ), True
            sources = self._sources(action, files or {}, base / action.cwd if action.cwd else base)
            try:
                changes, change_notes = plan_changes(
                    action, sources, default_context if action.tool in ("kubectl", "oc", "helm") else None
                )
            except (ValidationError, RecursionError) as exc:  # a target too long, a document nested too deep
                why = f"`{action.tool} {action.verb}`: its target cannot be read ({exc.__class__.__name__})"
                targets.append(judge_action(replace(action, effect="unknown", why=why)))
                continue
            notes += change_notes
            for change in changes:
                if change.facts.space not in evidence:
                    evidence[change.facts.space] = self.bypass.evidence(change.facts.space, incident_id, sandbox_id)
                facts = change.facts.model_copy(
                    update={
                        "verified": evidence[change.facts.space],
                        "incident_id": incident_id,
                        "sandbox_id": sandbox_id,
                    }
                )
                decision = decide(facts, policy)
                if facts.document is not None:  # every literal the gate or the engine found: never stored
                    paths = set(facts.secret_paths) | set(decision.secrets.paths if decision.secrets else [])
                    flagged += [(facts.document, Finding(p, "secret-value")) for p in sorted(paths)]
                targets.append(judge_decision(decision, policy, kind=change.kind, **change.target))
                decisions[len(targets) - 1] = decision
        if not targets:
            targets.append(
                GuardTarget(tool="shell", action="", effect="outside", verdict="allow", reason="runs no program")
            )
        for target in targets:  # a name, context or verb that is itself a secret is never stored either
            for value in (target.tool, target.action, target.context, target.namespace, target.space, target.unit,
                          target.kind, target.name, target.file):  # fmt: skip
                if value and value not in extra:
                    kinds = sorted({f.kind for f in find_secrets_in_text(value)})
                    if kinds:
                        extra[value] = "redacted:" + "+".join(kinds)
        decisive = strictest(targets)
        top = targets[decisive]
        engine = decisions.get(decisive)
        literals = {**flagged_literals(flagged), **extra}
        stored_command, _ = redact(command, literals)
        reasons = notes + (list(engine.reasons) if engine else [])
        answer = {
            "verdict": top.verdict,
            "reason": f"{top.tool} {top.action}: {top.reason}".replace("  ", " ") if top.action else top.reason,
            "criterion": top.criterion.model_dump(mode="json") if top.criterion else None,
            "governed_path": top.governed_path,
            "targets": [t.model_dump(mode="json") for t in targets],
            "reasons": reasons,
            "reconciliation": (  # what an allow or ask still owes (a capture, a bootstrap log, a proposal)
                engine.reconciliation.model_dump(mode="json")
                if engine and engine.reconciliation and top.verdict != "deny" and engine.reconciliation.kind != "none"
                else None
            ),
            "must_declare_incident": bool(engine and engine.must_declare_incident),
            "agent": str(actor),
            "command": stored_command,
        }
        if literals:
            answer = scrub(answer, literals)
        row_id = self._log(answer, engine, command, incident_id, sandbox_id, actor)
        return GuardDecision.model_validate({**answer, "policy_version": self.ctx.policy.digest, "decision_id": row_id})

    def _sources(self, action: Any, given: Mapping[str, str], cwd: Path) -> dict[str, Source]:
        out: dict[str, Source] = {}
        for path, role in action.files:
            if role == "opaque":
                continue
            if path in given:
                out[path] = Source(given[path])
            elif path == "-":
                if action.stdin is not None:
                    out[path] = Source(action.stdin)
                elif action.stdin_file:
                    out[path] = _read(action.stdin_file, cwd)
                else:
                    out[path] = Source(None, "standard input the command line does not show")
            else:
                out[path] = _read(path, cwd)
        return out

    def _governance(self, space: str, unit: str | None) -> str:
        """Issue 14 item 5: say when the target is not governed yet, and who brings it under governance."""
        with self.ctx.db.read() as session:
            authority = self.ctx.authority(session)
            try:
                found = authority.get_space(space)
                head = authority.get_head(space, unit) if found is not None and unit else None
            except (AuthorityUnavailable, AuthorityAuthFailed):  # not read: say nothing rather than guess
                return ""
        if found is None:
            return (
                f". The space {space} is not governed by cublab's authority yet: a human brings a unit under governance "
                f"with `cublab authority import FILE --space {space} --unit UNIT`"
            )
        if unit and head is None:
            return (
                f". The unit {space}/{unit} is not governed yet: a human brings it under governance with "
                f"`cublab authority import FILE --space {space} --unit {unit}`"
            )
        return ""

    def _log(
        self,
        answer: dict[str, Any],
        engine: BypassDecision | None,
        command: str | Sequence[str],
        incident_id: str | None,
        sandbox_id: str | None,
        actor: Identity,
    ) -> str:
        criterion = answer["criterion"]
        row = Decision(
            id=new_id("decision"),
            actor=str(actor),
            verdict=answer["verdict"],
            criterion=criterion["number"] if criterion else None,
            also_matched=[c.number for c in engine.also_matched] if engine else [],
            path=list(engine.path) if engine else [],
            reasons=[answer["reason"], *answer["reasons"]],
            reconciliation=answer["reconciliation"] or {},
            audit_requirement=(engine.audit_requirement or "") if engine else "",
            subject={
                "source": "guard",
                "command": answer["command"],
                "governed_path": answer["governed_path"],
                "incident_id": incident_id,
                "sandbox_id": sandbox_id,
                "targets": answer["targets"],
                "evidence": [f.model_dump(mode="json") for f in engine.facts] if engine else [],
            },
            inputs_digest=content_hash(
                {
                    "command": command if isinstance(command, str) else list(command),
                    "incident_id": incident_id,
                    "sandbox_id": sandbox_id,
                }
            ),
            policy_digest=self.ctx.policy.digest,
            created_at=self.ctx.clock(),
        )
        with self.ctx.db.write() as session:
            session.add(row)
            session.flush()
            self.ctx.record(
                session,
                actor,
                "guard.decide",
                "decision",
                row.id,
                details={
                    "verdict": row.verdict,
                    "criterion": row.criterion,
                    "inputs_digest": row.inputs_digest,
                    "policy": row.policy_digest,
                },
            )
        return row.id


__all__ = ["GuardService", "current_kube_context"]
