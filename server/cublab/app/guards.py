"""The boundary: what an agent or human sends is checked before anything is stored.

Configuration documents (variants, captures, bypass_check's document, imported units) are
mappings of at most 1 MiB as stored, and they, like free text (names, purposes, rationales,
explanations) and identifiers (target spaces and units, incident ids, label keys), may hold
references to secrets, never their values. Free text also holds no character a terminal acts
on (the input models check it first; callers without one, such as a human's --reason, are
checked here), and a document no NUL (PostgreSQL cannot store it).

A refusal names where, as a JSON Pointer (RFC 6901) from the arguments (`/config/db/password`,
`/points/2/metric`, `/labels/env`), and what kind of secret: never the value, and never a key
that is itself the secret (it is shown as `<flagged key>`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cublab.app.inputs import MAX_CONFIG_BYTES
from cublab.domain.canonical import canonical_json
from cublab.domain.errors import InvalidInput
from cublab.domain.pointers import pointer, tokens
from cublab.domain.secrets import Finding, find_secrets, find_secrets_in_text, secret_gate_message
from cublab.domain.text import nul_in_document, refused_characters_rule, unsafe_character

FLAGGED_KEY = "<flagged key>"


def _shown(field: str, path: str) -> str:
    """The pointer to `path` inside argument `field` ("" for the arguments themselves), with any key
    that is itself a secret left out."""
    parts = [FLAGGED_KEY if find_secrets_in_text(token) else token for token in tokens(path)]
    return pointer(((field,) if field else ()) + tuple(parts))


def _refuse(findings: Iterable[Finding], field: str) -> None:
    shown = list(dict.fromkeys(Finding(_shown(field, f.path), f.kind) for f in findings))
    if shown:
        arguments = ", ".join(dict.fromkeys(tokens(f.path)[0] if f.path else "input" for f in shown))
        raise InvalidInput(secret_gate_message(shown, arguments))


def refuse_secrets_in_text(texts: Mapping[str, str | None] | None = None, /, **named: str | None) -> None:
    """Free text and identifiers are stored too: no literal secret may ride in them, nor a control character.

    `named` are arguments by name (`reason=...`); `texts` maps JSON Pointers to text, for text inside
    a list or object (`{"/points/2/metric": ...}`, `{"/units/0": ...}`).
    """
    items = {**(texts or {}), **{pointer((name,)): text for name, text in named.items()}}
    for where, text in items.items():
        problem = unsafe_character(text) if text else None
        if problem is not None:
            raise InvalidInput(f"{where}: {problem} is refused: text holds {refused_characters_rule()}")
    findings: list[Finding] = []
    for where, text in items.items():
        if text:
            findings += [Finding(where, f.kind) for f in find_secrets_in_text(text)]
    _refuse(findings, "")


def refuse_secrets(field: str, document: Any) -> None:
    """A configuration document may hold references to secrets, never their values, and no NUL anywhere."""
    where = nul_in_document(document, pointer((field,)))
    if where is not None:
        raise InvalidInput(
            f"{where}: U+0000 (NUL) is refused: configuration keys and string values hold no NUL character"
        )
    _refuse(find_secrets(document), field)


def refuse_secrets_in_labels(field: str, labels: Mapping[str, str]) -> None:
    """Labels are a flat map of names: each key and each value is judged as text too, so a map that
    happens to look like a reference (`{"name": ...}`) or a key that is a token is still refused."""
    findings = list(find_secrets(dict(labels)))
    for key, value in labels.items():
        findings += [Finding(pointer((key,)), f.kind) for f in find_secrets_in_text(key)]
        findings += [Finding(pointer((key,)), f.kind) for f in find_secrets_in_text(value)]
    _refuse(findings, field)


def _refuse_over_limit(field: str, size: int) -> None:
    if size > MAX_CONFIG_BYTES:
        raise InvalidInput(f"{field}: {size:,} bytes is over the limit of 1 MiB ({MAX_CONFIG_BYTES:,} bytes)")


def refuse_oversized(field: str, document: Any) -> None:
    """The limit is on the document as it is stored (canonical JSON), whatever form it came in."""
    try:
        size = len(canonical_json(document).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{field}: cannot be stored as JSON ({exc}); use strings, numbers, booleans, null, lists and objects"
        ) from None
    _refuse_over_limit(field, size)


# Deeper than any real configuration goes (a Kubernetes manifest rarely passes 15), and well inside what the
# parsers, the secret gate and the JSON columns recurse through.
MAX_CONFIG_DEPTH = 64


def _depth(document: Any) -> int:
    """The nesting depth of a parsed document (a scalar is 0), walked without recursion."""
    deepest, stack = 0, [(document, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in node)
    return deepest


def _too_deep(field: str) -> InvalidInput:
    return InvalidInput(f"{field}: nested more than {MAX_CONFIG_DEPTH} levels deep, the limit for a configuration")


def _parse_text(config: str, field: str) -> Any:
    """JSON text is read as JSON (its numbers as JSON means them: YAML 1.1 would read `1e3` as a string),
    anything else as YAML, by libyaml where it is built in (seven times faster than the pure-Python parser,
    and bypass_check parses a document on every call)."""
    if config.lstrip().startswith("{"):
        try:
            return json.loads(config)
        except ValueError:
            pass  # a YAML flow mapping, or not a document at all: YAML says which
    import yaml  # here: the MCP adapter imports this module before `tools/list`, which needs no YAML

    try:
        return yaml.load(config, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"{field}: the text is neither a JSON object nor valid YAML ({str(exc).splitlines()[0]})"
        ) from None


def parse_config(config: dict[str, Any] | str, field: str = "configuration") -> dict[str, Any]:
    """A configuration is a mapping: given as a JSON object, or as JSON or YAML text of one."""
    if isinstance(config, str):
        _refuse_over_limit(field, len(config.encode("utf-8")))  # before a parser reads it
        try:
            parsed = _parse_text(config, field)
        except RecursionError:  # the parsers recurse: far deeper than the limit, refused all the same
            raise _too_deep(field) from None
    else:
        parsed = config
    if not isinstance(parsed, dict):
        raise InvalidInput(f"{field}: must be a JSON object (a mapping of keys to values), got {type(parsed).__name__}")
    if _depth(parsed) > MAX_CONFIG_DEPTH:
        raise _too_deep(field)
    refuse_oversized(field, parsed)
    where = nul_in_document(parsed, pointer((field,)))
    if where is not None:  # YAML's "\0" escape reaches here; a JSON object was checked by the input model
        raise InvalidInput(
            f"{where}: U+0000 (NUL) is refused: configuration keys and string values hold no NUL character"
        )
    return parsed


def refuse_secret_identity(raw: str, field: str = "identity") -> None:
    """An identity as typed (before folding, which would hide a token's shape) names a person or an
    agent, never a credential: it is stored on every row and audit event it causes."""
    flagged = find_secrets_in_text(raw)
    if flagged:
        raise InvalidInput(
            f"{field}: the identity looks like a literal secret ({', '.join(f.kind for f in flagged)}); "
            "name the agent or the person (agent:<type>-<session>, human:<name>), never a credential"
        )
