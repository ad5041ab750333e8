"""cublab through fastmcp's Client, configured the way fastmcp's docs configure MCP servers (an `mcpServers` map).

    pip install fastmcp                    # in the agent's environment; cublab has its own
    cublab authority import handler.yaml --space web-prod --unit handler --as human:you   # once, by a human
    python examples/fastmcp_client.py [--cublab PATH] [--db PATH]

Runs the governed workflow (examples/_workflow.py) with `client.call_tool`; a refused call raises
fastmcp's ToolError, whose message is the server's text.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastmcp import Client
from fastmcp.exceptions import ToolError

from _workflow import Refused, arguments, serve_args, server_env, workflow


async def main() -> None:
    options = arguments(__doc__.splitlines()[0])
    config = {"mcpServers": {"cublab": {"command": options.cublab, "args": serve_args(options), "env": server_env()}}}
    async with Client(config, init_timeout=120, timeout=120) as client:  # a first start migrates the database

        async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
            try:
                result = await client.call_tool(tool, args)
            except ToolError as exc:
                raise Refused(str(exc)) from None
            return result.structured_content or {}

        await workflow(call)


if __name__ == "__main__":
    asyncio.run(main())
