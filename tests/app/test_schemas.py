"""The published tool surface: a snapshot of every tool's schemas, and the rules every tool obeys.

An agent (and its host) reads these schemas and annotations, so a change to them is a
change to the product: the snapshot makes it visible in review. After an intended change:

    CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/app/test_schemas.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from cublab.mcp_server import TOOLS

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tool_schemas.json"
UPDATE = os.environ.get("CUBLAB_UPDATE_SNAPSHOTS") == "1"
HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
HUMAN_ACTS = ("approve", "apply", "reject")


async def published(client) -> dict[str, dict[str, Any]]:
    tools = (await client.list_tools()).tools
    out = {}
    for tool in sorted(tools, key=lambda t: t.name):
        wire = tool.model_dump(mode="json", by_alias=True)
        out[tool.name] = {
            "title": wire.get("title"),
            "annotations": wire.get("annotations"),
            "meta": wire.get("_meta"),
            "inputSchema": wire.get("inputSchema"),
            "outputSchema": wire.get("outputSchema"),
        }
    return out


async def test_tool_schemas_match_the_snapshot(client) -> None:
    current = await published(client)
    text = json.dumps(current, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
        return
    assert SNAPSHOT.exists(), (
        f"no snapshot at {SNAPSHOT}; create it with: CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/app/test_schemas.py"
    )
    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    how = "if the change is intended, update the snapshot: CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/app/test_schemas.py"
    added, removed = sorted(set(current) - set(recorded)), sorted(set(recorded) - set(current))
    assert not added and not removed, f"tools added {added}, removed {removed}; {how}"
    changed = [name for name in current if current[name] != recorded[name]]
    details = {name: [k for k in current[name] if current[name][k] != recorded[name].get(k)] for name in changed}
    assert not changed, f"the published schemas drifted: {details}; {how}"


async def test_every_tool_declares_all_four_hints_explicitly(client) -> None:
    for tool in (await client.list_tools()).tools:
        annotations = tool.model_dump(mode="json", by_alias=True).get("annotations") or {}
        missing = [h for h in HINTS if annotations.get(h) is None]
        assert not missing, f"{tool.name} leaves {missing} unset; unset hints default to the pessimistic side"
        assert annotations.get("title") == tool.title, tool.name
        assert tool.title, tool.name


async def test_read_only_tools_are_exactly_the_readers(client) -> None:
    tools = (await client.list_tools()).tools
    readers = {t.name for t in tools if t.name.endswith(("_get", "_list", "_compare", "_check"))}
    read_only = {t.name for t in tools if t.annotations.read_only_hint}
    assert read_only == readers
    for t in tools:
        if t.annotations.read_only_hint:
            assert not t.annotations.destructive_hint, f"{t.name} is read-only yet destructive"
    ledger_readers = {"sandbox_get", "sandbox_list", "experiment_get", "experiment_list", "experiment_compare"}
    assert ledger_readers <= read_only
    destructive = {t.name for t in tools if t.annotations.destructive_hint}
    assert "sandbox_destroy" in destructive
    assert not destructive & {"sandbox_spawn", "experiment_create", "variant_log", "result_log"}


async def test_every_tool_has_an_object_output_schema(client) -> None:
    for tool in (await client.list_tools()).tools:
        assert tool.output_schema is not None, f"{tool.name} has no output schema"
        assert tool.output_schema.get("type") == "object", tool.name
        assert tool.input_schema.get("type") == "object", tool.name


async def test_no_tool_lets_an_agent_approve_apply_or_reject(client) -> None:
    for tool in (await client.list_tools()).tools:
        assert not any(act in tool.name.lower() for act in HUMAN_ACTS), (
            f"{tool.name}: agents never approve, apply or reject"
        )


async def test_every_registered_tool_has_a_toolset_in_its_meta(client) -> None:
    published_tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {spec.name for spec in TOOLS} <= set(published_tools)
    for spec in TOOLS:
        meta = published_tools[spec.name].meta or {}
        assert meta.get("toolset") == spec.toolset and spec.toolset, spec.name


async def test_output_schemas_carry_no_references_and_input_references_resolve(client) -> None:
    """Clients validate every result against the output schema; written-out schemas are cheaper to check.
    Input schemas keep nested models as `$defs` (llama-index builds their fields only from a reference),
    and every reference points into the schema's own `$defs`."""
    for name, tool in (await published(client)).items():
        assert "$ref" not in json.dumps(tool["outputSchema"]), name
        defs = tool["inputSchema"].get("$defs", {})
        refs = re.findall(r'"\$ref": "([^"]*)"', json.dumps(tool["inputSchema"]))
        assert all(ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs for ref in refs), name


def test_inline_refs_writes_references_out_and_keeps_recursive_ones() -> None:
    from cublab.mcp_server import inline_refs

    schema = {
        "$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}}, "B": {"type": "integer"}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A", "description": "kept"}},
    }
    assert inline_refs(schema) == {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {"b": {"type": "integer"}}, "description": "kept"}},
    }
    recursive = {"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"}
    assert inline_refs(recursive) == recursive, "a recursive model keeps its references"
