"""From a writing command to the changes the bypass engine is asked about.

One `write` action becomes one `Change` per resource it touches: each document of each
manifest it applies (read from the text the use case or the caller supplies; this module
opens nothing), or each resource it names (`kubectl delete deploy/a svc/b`), or the
release it installs. Each carries the `ChangeFacts` the engine reads, as `bypass_check`
builds them: kind, name, namespace, context, document, and the secret paths the gate finds
in the document. The evidence cublab checks itself (`verified`, the incident, the sandbox)
is added by the use case.

A write whose target the guard cannot resolve (a context, namespace, name or file that is
still a shell expansion) is not guessed at: `plan_changes` returns why, and the guard denies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from cublab.domain.bypass import ChangeFacts
from cublab.domain.guard.actions import Action, unresolved
from cublab.domain.secrets import find_secrets

UNKNOWN_CONTEXT = "unknown"


@dataclass(frozen=True)
class Source:
    """A file's text as the use case read it (or the caller passed it), or why it could not be read."""

    text: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Change:
    target: dict[str, Any]  # the GuardTarget fields that describe it (tool, action, context, ...)
    kind: str
    facts: ChangeFacts


def documents(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """The mappings in a YAML or JSON text (several documents, `kind: List` items opened), or why not."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: several times faster
    try:
        loaded = list(yaml.load_all(text, Loader=loader))
    except yaml.YAMLError as exc:
        return [], f"not YAML ({str(exc).splitlines()[0]})"
    out: list[dict[str, Any]] = []
    for doc in loaded:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out += [d for d in doc["items"] if isinstance(d, dict)]
        elif isinstance(doc, dict):
            out.append(doc)
    return out, None


def _merge(into: dict[str, Any], values: dict[str, Any]) -> None:
    for k, v in values.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def unresolved_target(action: Action) -> str | None:
    """Why the guard cannot tell what this write targets, or None."""
    named = [
        ("context", action.context),
        ("namespace", action.namespace),
        ("space", action.space),
        ("unit", action.unit),
        *(("resource", f"{r.kind}/{r.name}") for r in action.resources),
        *(("file", f) for f, _ in action.files),
        *((("working directory (cd)", action.cwd),) if action.files else ()),
    ]
    for field, value in named:
        if unresolved(value):
            return f"its {field} is a shell expansion the guard cannot resolve"
    if action.context is None and (action.context_source or "").startswith("unresolved"):
        return f"its context is {action.context_source}"
    return None


def _facts(
    action: Action, context: str, kind: str, name: str, namespace: str | None, doc: dict[str, Any] | None
) -> ChangeFacts:
    return ChangeFacts(
        kind=kind[:200],
        name=name[:253],
        space=action.space,
        namespace=namespace[:253] if namespace else namespace,
        context=context[:200],
        document=doc,
        secret_paths=[f.path for f in find_secrets(doc)] if doc is not None else [],
    )


def plan_changes(
    action: Action, sources: dict[str, Source], default_context: str | None
) -> tuple[list[Change], list[str]]:
    """The changes a write action makes, and notes on what could not be read (files, the context)."""
    notes: list[str] = []
    context = action.context or default_context
    source = action.context_source if action.context else ("kubeconfig current-context" if default_context else None)
    if not context:
        context = UNKNOWN_CONTEXT
        source = action.context_source or "not named, and no current context could be read"
        notes.append(f"{action.tool}: the context is {source}, so it counts as an unknown (not local) context")
    base = {
        "tool": action.tool,
        "action": action.verb,
        "effect": action.effect,
        "context": context,
        "context_source": source,
        "namespace": action.namespace,
        "space": action.space,
        "unit": action.unit,
    }
    changes: list[Change] = []
    manifests = [f for f, role in action.files if role == "manifest"]
    values = [f for f, role in action.files if role == "values"]
    opaque = [f for f, role in action.files if role == "opaque"]
    for path in opaque:
        notes.append(f"{path}: the guard does not read what this file holds (a kustomization, a plan, tfvars)")
    document = dict(action.document) if action.document is not None else None
    for path in values:  # helm values files: what the release is configured with
        src = sources.get(path)
        if src is None or src.text is None:
            notes.append(f"{path}: not read ({src.problem if src else 'not supplied'})")
            continue
        docs, problem = documents(src.text)
        if problem or not docs:
            notes.append(f"{path}: {problem or 'holds no mapping'}")
            continue
        if document is not None:
            spec = document.setdefault("spec", {})
            _merge(spec.setdefault("values", {}), docs[0])
    for path in manifests:
        src = sources.get(path)
        if src is None or src.text is None:
            notes.append(f"{path}: not read ({src.problem if src else 'not supplied'}); judged on its context alone")
            changes.append(Change({**base, "file": path}, "", _facts(action, context, "", "", action.namespace, None)))
            continue
        docs, problem = documents(src.text)
        if problem or not docs:
            notes.append(f"{path}: {problem or 'holds no document'}; judged on its context alone")
            changes.append(Change({**base, "file": path}, "", _facts(action, context, "", "", action.namespace, None)))
            continue
        for doc in docs:
            raw_meta = doc.get("metadata")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            kind = str(doc.get("kind") or "")
            name = str(meta.get("name") or "")
            ns = action.namespace or (str(meta["namespace"]) if meta.get("namespace") else None)
            changes.append(
                Change(
                    {**base, "file": path, "name": name, "namespace": ns},
                    kind,
                    _facts(action, context, kind, name, ns, doc),
                )
            )
    if not manifests:
        resources = action.resources or ()
        if not resources:
            changes.append(Change(dict(base), "", _facts(action, context, "", "", action.namespace, document)))
        for r in resources:
            one = document if len(resources) == 1 else None
            changes.append(
                Change(
                    {**base, "name": r.name or None},
                    r.kind,
                    _facts(action, context, r.kind, r.name, action.namespace, one),
                )
            )
    return changes, notes
