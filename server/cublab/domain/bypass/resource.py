"""Reading a resource: what the change's document says about it.

The engine's questions are about a resource (its kind, API group, namespace,
name, labels, ownership) and about paths in its document (observed state,
secret values, markers such as a Compose file's `services`). This module reads
them from the facts and the document, the caller's facts winning over the
document, and matches them against the policy's glob vocabularies. It decides
nothing: `engine.py` does.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import Any

from cublab.domain.bypass.decision import ChangeFacts, ContextClass
from cublab.domain.bypass.policy import BypassPolicy, Matcher, ObservedStateRules, SecretRules
from cublab.domain.pointers import child, pointer, tokens


@lru_cache(maxsize=512)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regular expression per vocabulary (memoised: policies are immutable)."""
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns)) if patterns else None


def glob_match(value: str | None, patterns: list[str]) -> bool:
    """Whether `value` matches any of the glob `patterns`, case-insensitively; an empty value matches none."""
    if not value:
        return False
    compiled = _compiled(tuple(patterns))
    return compiled is not None and compiled.match(value.lower()) is not None


def expand(doc: Any, pattern: str) -> list[str]:
    """Concrete pointers in `doc` matching the pointer `pattern`, where a '*' token matches any key or index."""
    found = [("", doc)]
    for token in tokens(pattern):
        nxt = []
        for path, node in found:
            if isinstance(node, dict):
                keys = list(node) if token == "*" else ([token] if token in node else [])
                nxt += [(child(path, k), node[k]) for k in keys]
            elif isinstance(node, list):
                if token == "*":
                    nxt += [(f"{path}/{i}", v) for i, v in enumerate(node)]
                elif token.isdigit() and int(token) < len(node):
                    nxt.append((f"{path}/{token}", node[int(token)]))
        found = nxt
    return [p for p, _ in found]


def _walk_keys(doc: Any, keys: set[str], skip: set[str]) -> list[str]:
    """Pointers of every member named in `keys` (not descending into it). Iterative: any nesting depth is safe."""
    out: list[str] = []
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            items: list[tuple[str, str | None, Any]] = [(child(path, k), str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            items = [(f"{path}/{i}", None, v) for i, v in enumerate(node)]
        else:
            continue
        for here, key, value in items:
            if here in skip:
                continue
            if key is not None and key in keys:
                out.append(here)
            else:
                stack.append((here, value))
    return out


def _metadata(doc: dict[str, Any] | None) -> dict[str, Any]:
    meta = (doc or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _str_map(value: Any) -> dict[str, str]:
    return (
        {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float, bool))}
        if isinstance(value, dict)
        else {}
    )


class Resource:
    """The change's identity, taking what the document says when the caller left it out."""

    def __init__(self, facts: ChangeFacts) -> None:
        doc = facts.document if isinstance(facts.document, dict) else None
        meta = _metadata(doc)
        self.doc = doc
        self.kind = facts.kind or str((doc or {}).get("kind") or "")
        self.api_version = str((doc or {}).get("apiVersion") or "")
        self.name = facts.name or str(meta.get("name") or "")
        self.namespace = facts.namespace or (str(meta["namespace"]) if meta.get("namespace") else None)
        self.labels = {**_str_map(meta.get("labels")), **facts.labels}
        self.annotations = _str_map(meta.get("annotations"))
        owners = meta.get("ownerReferences")
        self.owner_kinds = (
            [str(o.get("kind")) for o in owners if isinstance(o, dict)] if isinstance(owners, list) else []
        )

    def matches(self, m: Matcher) -> str | None:
        """Why this resource matches `m`, or None."""
        group = self.api_version.split("/")[0] if "/" in self.api_version else ""
        if glob_match(self.kind, m.kinds):
            return f"kind {self.kind}"
        if glob_match(group, m.api_groups):
            return f"API group {group}"
        if glob_match(self.namespace, m.namespaces):
            return f"namespace {self.namespace}"
        if glob_match(self.name, m.names):
            return f"name {self.name}"
        for key, patterns in m.label_values.items():
            if glob_match(self.labels.get(key), patterns):
                return f"label {key}={self.labels[key]}"
        if self.doc is not None:
            for marker in m.document_markers:
                if expand(self.doc, marker):
                    return f"document field {marker}"
        return None


def observed_state_paths(res: Resource, rules: ObservedStateRules) -> list[str]:
    doc = res.doc
    if doc is None:
        return []
    out = [pointer([s]) for s in rules.sections if s in doc]
    for owned in rules.owned_fields:
        owned_now = (
            any(expand(doc, p) for p in owned.when_paths)
            or any(k in owned.when_owner_kinds for k in res.owner_kinds)
            or any(a in res.annotations for a in owned.when_annotations)
        )
        if owned_now:
            out += [p for pattern in owned.paths for p in expand(doc, pattern)]
    out += _walk_keys(doc, set(rules.keys), set(out) | {"/metadata"})
    return sorted(set(out))


def secret_value_paths(facts: ChangeFacts, res: Resource, rules: SecretRules) -> tuple[bool, list[str]]:
    paths = list(facts.secret_paths)
    by_kind = glob_match(res.kind, rules.kinds)
    if by_kind and res.doc is not None:
        for key in rules.value_keys:
            section = res.doc.get(key)
            if isinstance(section, dict):
                paths += [pointer([key, k]) for k in section]
    return bool(paths) or by_kind, sorted(set(paths))


def classify_context(facts: ChangeFacts, policy: BypassPolicy) -> ContextClass:
    """Production is tested first, on the context, the space and the namespace: it wins every tie."""
    rules = policy.contexts
    meta_ns = _metadata(facts.document).get("namespace")
    if any(
        glob_match(v, rules.production)
        for v in (facts.context, facts.space, facts.namespace, meta_ns if isinstance(meta_ns, str) else None)
    ):
        return "production"
    others: tuple[tuple[ContextClass, list[str]], ...] = (
        ("local", rules.local),
        ("sandbox", rules.sandbox),
        ("ci", rules.ci),
        ("preview", rules.preview),
        ("staging", rules.staging),
    )
    for cls, patterns in others:
        if glob_match(facts.context, patterns):
            return cls
    return "other"
