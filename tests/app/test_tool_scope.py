"""What a server offers at all (`cublab serve --toolsets`, `--read-only`), through the MCP client in-process, as
stdio serves it: a tool left out is absent from tools/list and unknown if called."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from cublab.mcp_server import TOOLS, build_server
from cublab.runtime import Runtime
from support.mcp import call

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("toolsets", "read_only"),
    [(None, True), (("policy",), False), (("sandboxes", "experiments"), True), (None, False)],
)
async def test_the_server_offers_only_what_it_was_told(runtime: Runtime, toolsets, read_only: bool) -> None:
    expected = {s.name for s in TOOLS if (toolsets is None or s.toolset in toolsets) and (s.read_only or not read_only)}
    async with Client(build_server(runtime, toolsets=toolsets, read_only=read_only)) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert listed == expected and listed
        for spec in TOOLS:
            if spec.name not in expected:
                try:
                    result = await client.call_tool(spec.name, {})
                except MCPError as exc:  # the client or the protocol refuses a tool it never listed
                    assert spec.name in str(exc.error.data or exc.error.message) or "Unknown tool" in str(exc)
                else:
                    assert result.is_error and f"Unknown tool: {spec.name}" in result.content[0].text
                break
        if "sandbox_list" in expected:
            assert (await call(client, "sandbox_list"))["sandboxes"] == []
