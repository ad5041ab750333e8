"""Input schemas in the one shape every tool-calling framework takes as it is.

Frameworks convert an MCP tool's input schema before a model sees it: OpenAI's strict mode wants
every property required (null standing for "not given") and no `anyOf` it cannot read; Gemini's
conversion replaces an `anyOf: [X, null]` by X and loses what stood beside it (the description, the
default). So a nullable value is written as `type: [X, "null"]` on the property itself, with its
description in the same place; a union that is not "X or null" is left alone.

Nested models (a result point, a label) stay in `$defs`, and every reference to one carries the model's
description beside it. llama-index builds a nested model's fields only from a reference (written out,
a point would reach the model as a bare object); the OpenAI Agents SDK, in strict mode, accepts a
reference to an MCP tool's `$defs` only when it can write it out and check it, which it does for a
reference with something beside it. A description is what every converter can keep or drop harmlessly.
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

    defs = schema.get("$defs", {})

    def describe(node: Any) -> Any:
        if isinstance(node, list):
            return [describe(v) for v in node]
        if not isinstance(node, dict):
            return node
        node = {k: describe(v) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) == 1:
            target = defs.get(ref.removeprefix("#/$defs/"), {})
            if target.get("description"):
                node["description"] = target["description"]
        return node

    return describe(walk(schema))
