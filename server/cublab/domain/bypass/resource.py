"""Reading a resource: what the change's document says about it.

The engine's questions are about a resource (its kind, API group, namespace,
name, images, labels, ownership) and about paths in its document (observed
state, secret values, markers such as a Compose file's `services`). This module
reads them from the facts and the document, the caller's facts winning over the
document, and matches them against the policy's glob vocabularies. It decides
nothing: `engine.py` does.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from functools import lru_cache
from typing import Any

from cublab.domain.bypass.decision import ChangeFacts, ContextClass
from cublab.domain.bypass.policy import BypassPolicy, Matcher, ObservedStateRules, SecretRules
from cublab.domain.pointers import child, pointer, tokens
from cublab.domain.secrets import is_placeholder, is_reference


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


def first_match(value: str | None, patterns: list[str]) -> str | None:
    """The first of `patterns` that `value` matches: what a reason quotes instead of a value it must not repeat."""
    if not glob_match(value, patterns):
        return None
    return next(p for p in patterns if glob_match(value, [p]))


def _children(path: str, node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [(child(path, k), v) for k, v in node.items()]
    if isinstance(node, list):
        return [(f"{path}/{i}", v) for i, v in enumerate(node)]
    return []


def _self_and_descendants(path: str, node: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    stack = [(path, node)]
    while stack:
        here, value = stack.pop()
        out.append((here, value))
        stack.extend(_children(here, value))
    return out


def expand(doc: Any, pattern: str) -> list[str]:
    """Concrete pointers in `doc` matching the pointer `pattern`: a '*' token matches any one key or index,
    a '**' token any number of levels, none included (so '/**/weight' is a `weight` wherever it sits)."""
    found: list[tuple[str, Any]] = [("", doc)]
    for token in tokens(pattern):
        nxt: list[tuple[str, Any]] = []
        for path, node in found:
            if token == "**":
                nxt += _self_and_descendants(path, node)
            elif token == "*":
                nxt += _children(path, node)
            elif isinstance(node, dict):
                if token in node:
                    nxt.append((child(path, token), node[token]))
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                nxt.append((f"{path}/{token}", node[int(token)]))
        found = nxt
    return list(dict.fromkeys(p for p, _ in found))


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


def image_name(image: str) -> str:
    """An image reference without its digest or tag: 'quay.io/argoproj/argocd:v2.9' -> 'quay.io/argoproj/argocd'."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _images(doc: dict[str, Any] | None) -> list[str]:
    """Every container image named in the document (any `image` member holding a string), outside metadata."""
    if doc is None:
        return []
    found = set()
    stack: list[Any] = [v for k, v in doc.items() if k != "metadata"]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            image = node.get("image")
            if isinstance(image, str) and image.strip():
                found.add(image_name(image.strip()))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def _under(path: str, base: str) -> bool:
    return path == base or path.startswith(base + "/")


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
        self.images = _images(doc)
        self.flagged = set(facts.secret_paths)  # literal secrets found by the gate: never quoted

    def matches(self, m: Matcher) -> str | None:
        """Why this resource is one of the components `m` names, or None. The namespace is not asked:
        a namespace says where a resource runs, not what it is (see `only_namespace`)."""
        group = self.api_version.split("/")[0] if "/" in self.api_version else ""
        if glob_match(self.kind, m.kinds):
            return f"kind {self.kind}"
        if glob_match(group, m.api_groups):
            return f"API group {group}"
        if glob_match(self.name, m.names):
            return "name " + (
                self.name if "/metadata/name" not in self.flagged else f"matching {first_match(self.name, m.names)}"
            )
        # Images and label values are never quoted (a reason is stored): the pattern they match is.
        for image in self.images:
            pattern = first_match(image, m.images)
            if pattern:
                return f"image matching {pattern}"
        for key, patterns in m.label_values.items():
            pattern = first_match(self.labels.get(key), patterns)
            if pattern:
                return f"label {key} matching {pattern}"
        if self.doc is not None:
            for marker in m.document_markers:
                if expand(self.doc, marker):
                    return f"document field {marker}"
        return None

    def only_namespace(self, m: Matcher, matched: str | None) -> str | None:
        """The namespace, when it is one where `m`'s components run but nothing else recognises the resource
        (`matched`: what `matches(m)` said)."""
        if matched is None and glob_match(self.namespace, m.namespaces):
            return self.namespace
        return None


def observed_state_paths(
    res: Resource, rules: ObservedStateRules, managed_by_label: str
) -> tuple[list[str], list[str]]:
    """The pointers of observed state in the document, and the controllers found to own part of it."""
    doc = res.doc
    if doc is None:
        return [], []
    out = [pointer([s]) for s in rules.sections if s in doc]
    owners: list[str] = []
    managed_by = res.labels.get(managed_by_label)
    for owned in rules.owned_fields:
        if glob_match(managed_by, owned.managed_by):
            sign = f"its {managed_by_label} label"
        elif any(glob_match(k, owned.when_owner_kinds) for k in res.owner_kinds):
            sign = "ownerReferences"
        elif any(glob_match(a, owned.when_annotations) for a in res.annotations):
            sign = "annotations"
        elif any(expand(doc, p) for p in owned.when_paths):
            sign = "document"
        else:
            continue
        paths = [p for pattern in owned.paths for p in expand(doc, pattern) if not _under(p, "/metadata")]
        if paths:
            owners.append(f"{owned.owner} ({sign})")
            out += paths
    out += _walk_keys(doc, set(rules.keys), set(out) | {"/metadata"})
    # A path inside another observed path adds nothing: keep the outermost.
    found = sorted(set(out))
    outermost = [p for p in found if not any(q != p and _under(p, q) for q in found)]
    return outermost, owners


def only_observed(doc: dict[str, Any] | None, observed: list[str]) -> bool:
    """Whether everything the document holds besides apiVersion, kind and metadata is observed state,
    wherever it sits (an empty member holds nothing)."""
    if doc is None or not observed:
        return False
    marked = set(observed)

    def covered(path: str, node: Any) -> bool:
        if path in marked:
            return True
        kids = _children(path, node)
        if not kids:
            return isinstance(node, (dict, list))  # {} or [] holds nothing; a scalar is desired state
        return all(covered(p, v) for p, v in kids)

    content = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    return bool(content) and all(covered(child("", k), v) for k, v in content.items())


def _literal(value: Any) -> bool:
    """A value that holds secret material: not a reference, a placeholder or empty (base64 is read first)."""
    if value is None or isinstance(value, bool) or value == "":
        return False
    if is_reference(value):
        return False
    if isinstance(value, str):
        if is_placeholder(value):
            return False
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return True
        return not (decoded == "" or is_reference(decoded) or is_placeholder(decoded))
    return True


def secret_value_paths(facts: ChangeFacts, res: Resource, rules: SecretRules) -> tuple[bool, list[str], list[str]]:
    """Whether the change holds literal secret values, their paths, and the paths that hold references instead.

    The gate's paths (`facts.secret_paths`) are literals by construction. A kind that holds secrets by
    definition (Secret) counts by its values: literal ones are secrets, references are ordinary
    configuration (the reference is exactly what belongs in ConfigHub). When its values are not shown
    (no document, or no `data`/`stringData`), they cannot be read, so it counts as holding secrets.
    """
    paths = list(facts.secret_paths)
    references: list[str] = []
    by_kind = glob_match(res.kind, rules.kinds)
    seen = False
    if by_kind and res.doc is not None:
        for key in rules.value_keys:
            section = res.doc.get(key)
            if isinstance(section, dict):
                for k, v in section.items():
                    seen = True
                    (paths if _literal(v) else references).append(pointer([key, k]))
    unseen = by_kind and not seen  # a Secret whose values are not shown is a secret by definition
    return bool(paths) or unseen, sorted(set(paths)), sorted(set(references) - set(paths))


def production_signs(facts: ChangeFacts, policy: BypassPolicy) -> list[str]:
    """Everything that says the change is production: the context, space or namespace name, or the
    space's tier label as the authority holds it (verified)."""
    rules = policy.contexts
    meta_ns = _metadata(facts.document).get("namespace")
    signs = []
    if glob_match(facts.context, rules.production):
        signs.append(f"context {facts.context}")
    if glob_match(facts.space, rules.production):
        signs.append(f"space {facts.space}")
    for ns in dict.fromkeys(n for n in (facts.namespace, meta_ns if isinstance(meta_ns, str) else None) if n):
        if glob_match(ns, rules.production):
            signs.append(f"namespace {ns}")
    tier = facts.verified.space_tier
    if glob_match(tier, rules.production):
        signs.append(f"the space's tier {tier} (verified in the authority)")
    return signs


def classify_context(facts: ChangeFacts, policy: BypassPolicy, signs: list[str] | None = None) -> ContextClass:
    """Production is tested first, on the context, the space, the namespace and the space's verified tier
    (`signs`, when already read): it wins every tie."""
    if production_signs(facts, policy) if signs is None else signs:
        return "production"
    rules = policy.contexts
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
