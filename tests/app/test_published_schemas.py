"""The tool schemas shipped with cublab (cublab/tool_schemas.json) are what the models derive, and the server
publishes them only while they are current. After an intended change to a tool or a model:

    CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/app/test_published_schemas.py
"""

from __future__ import annotations

import json
import os

import pytest
from mcp import Client

from cublab import mcp_server, tool_schemas
from cublab.mcp_server import build_server, derive_schemas
from support.mcp import call

pytestmark = pytest.mark.anyio
UPDATE = os.environ.get("CUBLAB_UPDATE_SNAPSHOTS") == "1"


def test_the_shipped_schemas_are_current() -> None:
    derived = derive_schemas()
    if UPDATE:
        tool_schemas.FILE.write_text(tool_schemas.render(derived), encoding="utf-8")
    how = "regenerate it: CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/app/test_published_schemas.py"
    assert tool_schemas.load() is not None, f"{tool_schemas.FILE} is missing or stale (its fingerprint); {how}"
    assert tool_schemas.load() == json.loads(json.dumps(derived)), (
        f"{tool_schemas.FILE} disagrees with the models; {how}"
    )


async def test_the_server_publishes_them_and_derives_argument_models_on_first_call(runtime) -> None:
    assert all(isinstance(tool, mcp_server._PublishedTool) for tool in mcp_server._tools())
    async with Client(build_server(runtime)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        derived = derive_schemas()
        assert {name: (t.input_schema, t.output_schema) for name, t in listed.items()} == {
            name: (d["inputSchema"], d["outputSchema"]) for name, d in derived.items()
        }
        sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="1h")
        assert (await call(client, "sandbox_get", sandbox_id=sandbox["id"]))["id"] == sandbox["id"]
        refused = await client.call_tool("sandbox_get", {"sandbox_id": sandbox["id"], "extra": 1})
        assert refused.is_error and "extra" in refused.content[0].text  # the strict argument model, built lazily


def test_a_stale_file_is_not_used(tmp_path, monkeypatch) -> None:
    stale = tmp_path / "tool_schemas.json"
    stale.write_text(json.dumps({"fingerprint": "sha256:old", "tools": {"sandbox_get": {}}}), encoding="utf-8")
    monkeypatch.setattr(tool_schemas, "FILE", stale)
    assert tool_schemas.load() is None
    tools = mcp_server._tools.__wrapped__()
    assert not any(isinstance(tool, mcp_server._PublishedTool) for tool in tools)
    assert {t.name: t.parameters for t in tools} == {n: d["inputSchema"] for n, d in derive_schemas().items()}
