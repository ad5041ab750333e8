"""Every tool's input schema is one every major agent framework takes as it is.

Frameworks convert an MCP tool's input schema before a model sees it; these are the rules their
converters impose, checked on what the server publishes (the frameworks themselves run in
tests/integrations/):

- OpenAI's strict mode (the Agents SDK's `convert_schemas_to_strict`, pydantic-ai's `strict=True`): every
  object closed (`additionalProperties: false`) with its properties listed (no free-form maps, which strict
  mode closes to `{}`), every property required or nullable (strict mode makes all of them required, and
  null stands for "not given"), no default but null (the SDK strips only null defaults);
- Gemini's conversion: no `anyOf`/`oneOf`/`allOf` (it keeps one branch and loses what stood beside it, the
  description first), and a description on every property, at the property itself;
- references only into the schema's own `$defs`, each with its target's description beside it and nothing
  else (nested models stay there: llama-index builds a nested model's fields only from a reference, and the
  Agents SDK's strict conversion refuses a bare reference in an MCP tool's schema);
- no argument named after a word a framework reserves for itself (LangChain passes its own `config` and
  `callbacks` where a tool argument of that name would go, and drops the agent's value).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cublab.mcp_server import TOOLS, _tools

pytestmark = pytest.mark.anyio

# Argument names frameworks take for themselves, by framework (checked against their sources):
RESERVED = {
    # langchain-core BaseTool.run/arun and StructuredTool: injected or consumed before the tool sees its input
    # (FILTERED_ARGS, the run's keyword arguments); LangChain 1.x documents `config` and `runtime` as reserved.
    "langchain": {
        "config",
        "callbacks",
        "run_manager",
        "tags",
        "metadata",
        "run_name",
        "run_id",
        "tool_call_id",
        "runtime",
    },
    # llama-index FunctionTool: its workflow context parameter, and the catch-alls of the function it wraps.
    "llama-index": {"ctx", "kwargs", "args"},
    # pydantic-ai and the OpenAI Agents SDK recognise their run context by type, and pass MCP arguments through;
    # `ctx` is the name their own tools give it.
    "pydantic-ai": {"ctx"},
    # Names that shadow attributes of the pydantic models frameworks build from a JSON schema (llama-index,
    # langchain-mcp-adapters with pydantic args schemas).
    "pydantic": {"schema", "json", "dict", "copy", "validate", "construct", "fields", "model_config", "model_fields"},
}
NULL_TYPES = {"null"}


def objects(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node of an input schema, with its JSON path."""
    if isinstance(node, dict):
        yield where or "/", node
        for key, value in node.items():
            yield from objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from objects(value, f"{where}/{n}")


def nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return (isinstance(kind, list) and "null" in kind) or kind == "null"


def strict_problems(schema: dict[str, Any]) -> list[str]:
    """What OpenAI's strict mode (and Gemini's conversion) would refuse or silently change in this schema."""
    problems = []
    for where, node in objects(schema):
        types = node.get("type")
        kinds = set(types) if isinstance(types, list) else {types} if isinstance(types, str) else set()
        if "object" in kinds:
            if node.get("additionalProperties") is not False:
                problems.append(f"{where}: an object not closed with additionalProperties: false")
            if not node.get("properties"):
                problems.append(f"{where}: a free-form object (no properties)")
            required = set(node.get("required", []))
            for name, prop in node.get("properties", {}).items():
                if name not in required and not nullable(prop):
                    problems.append(f"{where}/properties/{name}: optional but not nullable")
                if not prop.get("description"):
                    problems.append(f"{where}/properties/{name}: no description at the property itself")
        for combinator in ("anyOf", "oneOf", "allOf", "not"):
            if combinator in node:
                problems.append(f"{where}: uses {combinator}")
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.removeprefix("#/$defs/") not in schema.get("$defs", {}):
            problems.append(f"{where}: a reference outside the schema's own $defs ({ref})")
        target = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}) if isinstance(ref, str) else {}
        if isinstance(ref, str) and {k: v for k, v in node.items() if k != "$ref"} != {
            "description": target.get("description")
        }:
            # The Agents SDK's strict conversion checks a reference's target only when something stands beside
            # it; the target's description is what may stand there (converters may drop it: it is a repeat).
            problems.append(f"{where}: a $ref without its target's description beside it, or with more")
        if "default" in node and node["default"] is not None and not where.endswith("/properties"):
            problems.append(f"{where}: a default other than null ({node['default']!r})")
        if "enum" in node and nullable(node) and None not in node["enum"]:
            problems.append(f"{where}: nullable, but null is not in its enum")
        if types is not None and not kinds <= {"object", "array", "string", "number", "integer", "boolean", "null"}:
            problems.append(f"{where}: unknown type {types!r}")
    return problems


@pytest.mark.parametrize("tool", _tools(), ids=lambda t: t.name)
def test_every_input_schema_meets_strict_mode_and_gemini_rules(tool) -> None:
    assert strict_problems(tool.parameters) == []


@pytest.mark.parametrize("tool", _tools(), ids=lambda t: t.name)
def test_no_argument_is_named_after_a_reserved_word(tool) -> None:
    names = {name for where, node in objects(tool.parameters) for name in node.get("properties", {})}
    clashes = {fw: sorted(names & words) for fw, words in RESERVED.items() if names & words}
    assert not clashes, f"{tool.name}: arguments named after reserved words: {clashes}"


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "object", "properties": {"a": {"type": "string", "description": "d"}}}, "not closed"),
        ({"type": "object", "additionalProperties": False, "properties": {}}, "free-form"),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"type": "string", "description": "d"}},
            },
            "optional but not nullable",
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["a"],
                "properties": {"a": {"type": "object", "additionalProperties": {"type": "string"}, "description": "m"}},
            },
            "free-form",
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "d"}},
            },
            "uses anyOf",
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["a"],
                "properties": {"a": {"type": "string"}},
            },
            "no description",
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["a"],
                "properties": {"a": {"type": "array", "items": {"$ref": "#/$defs/B"}, "description": "d"}},
            },
            "outside the schema's own $defs",
        ),
        (
            {
                "$defs": {"B": {"type": "object", "description": "a b"}},
                "type": "object",
                "additionalProperties": False,
                "required": ["a"],
                "properties": {"a": {"type": "array", "items": {"$ref": "#/$defs/B"}, "description": "d"}},
            },
            "without its target's description",
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"type": ["integer", "null"], "default": 50, "description": "d"}},
            },
            "default other than null",
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"type": ["string", "null"], "enum": ["x"], "description": "d"}},
            },
            "null is not in its enum",
        ),
    ],
)
def test_the_rule_check_catches_each_kind_of_problem(schema, problem) -> None:
    assert any(problem in p for p in strict_problems(schema)), strict_problems(schema)


async def test_null_takes_the_default_for_every_optional_argument(client) -> None:
    """Strict callers send every argument, null for "not given": the result is the same as omitting it."""
    sandbox = (
        await client.call_tool(
            "sandbox_spawn",
            {"name": "n", "purpose": "p", "ttl": None, "labels": None, "context": None, "explanation": None},
        )
    ).structured_content
    assert sandbox["ttl"] == "24h" and sandbox["labels"]["ephemeral"] == "true"
    listed = await client.call_tool("sandbox_list", {"status": None, "limit": None, "cursor": None})
    assert not listed.is_error and len(listed.structured_content["sandboxes"]) == 1
    obligations = await client.call_tool("obligation_list", {"status": None, "incident_id": None, "limit": None})
    assert not obligations.is_error


async def test_text_arguments_stay_text_even_when_they_hold_json(client) -> None:
    """The SDK parses a string argument as JSON when its type is not plain `str`: a document given as JSON
    text in an optional argument must still arrive as text (and be classified), not as a refused object."""
    answer = await client.call_tool(
        "bypass_check",
        {"context": "staging", "document": json.dumps({"kind": "Deployment", "metadata": {"name": "web"}})},
    )
    assert not answer.is_error, answer.content[0].text
    assert answer.structured_content["verdict"] == "use_confighub"


async def test_labels_are_key_value_pairs_with_unique_keys(client) -> None:
    spawned = await client.call_tool(
        "sandbox_spawn", {"name": "n", "purpose": "p", "labels": [{"key": "team", "value": "perf"}]}
    )
    assert spawned.structured_content["labels"]["team"] == "perf"
    twice = await client.call_tool(
        "sandbox_spawn",
        {"name": "n", "purpose": "p", "labels": [{"key": "team", "value": "a"}, {"key": "team", "value": "b"}]},
    )
    assert twice.is_error
    assert "label number 2 repeats the key of label number 1" in twice.content[0].text


async def test_prompts_their_arguments_and_resources_are_described(client) -> None:
    """Hosts show these in pickers, and the MCP conformance suite's prompts-list scenario fails on empty ones."""
    prompts = (await client.list_prompts()).prompts
    assert prompts
    for prompt in prompts:
        assert prompt.description, prompt.name
        for argument in prompt.arguments or []:
            assert argument.description, f"{prompt.name}.{argument.name}"
    resources = (await client.list_resources()).resources
    templates = (await client.list_resource_templates()).resource_templates
    assert resources and templates
    for resource in [*resources, *templates]:
        assert resource.description, resource.name
    assert {spec.name for spec in TOOLS} == {t.name for t in (await client.list_tools()).tools}
