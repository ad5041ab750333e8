"""Input schemas in the one shape every tool-calling framework takes as it is.

Frameworks convert an MCP tool's input schema before a model sees it: OpenAI's strict mode wants
every property required (null standing for "not given") and no `anyOf` it cannot read; Gemini's
conversion replaces an `anyOf: [X, null]` by X and loses what stood beside it (the description, the
default). So a nullable value is written as `type: [X, "null"]` on the property itself, with its
description in the same place; a union that is not "X or null" is left alone.
"""

from __future__ import annotations

from typing import Any

NULL = {"type": "null"}


def portable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `anyOf: [X, {type: null}]` written as X with `null` added to its type (and enum)."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        node = {k: walk(v) for k, v in node.items()}
        options = node.get("anyOf")
        if not (isinstance(options, list) and len(options) == 2 and NULL in options):
            return node
        (value,) = [o for o in options if o != NULL]
        kind = value.get("type")
        if not isinstance(kind, str) or "anyOf" in value:
            return node
        merged = {**value, **{k: v for k, v in node.items() if k != "anyOf"}, "type": [kind, "null"]}
        if "enum" in value:
            merged["enum"] = [*value["enum"], None]
        return merged

    return walk(schema)
