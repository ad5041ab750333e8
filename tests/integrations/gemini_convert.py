"""Gemini's conversion of cublab's tool schemas (google-genai's own `mcp_to_gemini_tool`), run in its environment.

Reads `{tool: inputSchema}` as JSON on stdin and prints, per tool, every argument path Gemini's schema
keeps with whether it kept its description: `{tool: {path: described}}` as JSON on stdout.

google-genai 3.6.1's MCP schema filter cannot read a boolean schema (`additionalProperties: false`,
which OpenAI's strict mode requires on every object) and raises; those are dropped first, as nothing
else in the conversion depends on them.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

from google.genai._mcp_utils import mcp_to_gemini_tool


def without_boolean_schemas(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: without_boolean_schemas(v)
            for k, v in node.items()
            if not (k == "additionalProperties" and isinstance(v, bool))
        }
    if isinstance(node, list):
        return [without_boolean_schemas(v) for v in node]
    return node


def kept(schema: Any, where: str, out: dict[str, bool]) -> dict[str, bool]:
    for name, sub in (schema.properties or {}).items():
        out[f"{where}{name}"] = bool(sub.description)
        kept(sub, f"{where}{name}.", out)
    if schema.items is not None:
        kept(schema.items, f"{where.rstrip('.')}[].", out)
    for branch in schema.any_of or []:
        kept(branch, where, out)
    return out


def main() -> None:
    schemas = json.load(sys.stdin)
    report = {}
    for name, schema in schemas.items():
        tool = SimpleNamespace(name=name, description=name, input_schema=without_boolean_schemas(schema))
        report[name] = kept(mcp_to_gemini_tool(tool).function_declarations[0].parameters, "", {})
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
