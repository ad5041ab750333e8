"""cublab's tools as LangChain tools, loaded the way langchain-mcp-adapters' docs load them.

    pip install langchain-mcp-adapters      # in the agent's environment; cublab has its own
    cublab authority import handler.yaml --space web-prod --unit handler --as human:you   # once, by a human
    python examples/langchain_agent.py [--cublab PATH] [--db PATH]

`load_mcp_tools` on one open session gives StructuredTools to hand to `create_agent` or LangGraph's
ToolNode. Here each is invoked as those invoke it, with a tool call, and the ToolMessage is what the
model would read: a refused call comes back with status "error" and the server's text.
"""

from __future__ import annotations

import asyncio
from itertools import count
from typing import Any

from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools

from _workflow import Refused, arguments, parse, serve_args, server_env, workflow


async def main() -> None:
    options = arguments(__doc__.splitlines()[0])
    client = MultiServerMCPClient(
        {"cublab": {"transport": "stdio", "command": options.cublab, "args": serve_args(options), "env": server_env()}}
    )
    async with client.session("cublab") as session:
        tools = {tool.name: tool for tool in await load_mcp_tools(session)}
        ids = count(1)

        async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
            message = await tools[tool].ainvoke(
                {"type": "tool_call", "id": f"call-{next(ids)}", "name": tool, "args": args}
            )
            blocks = [message.content] if isinstance(message.content, str) else message.content
            text = "".join(b if isinstance(b, str) else b.get("text", "") for b in blocks)
            if message.status == "error":
                raise Refused(text)
            return (message.artifact or {}).get("structured_content") or parse(text)

        await workflow(call)


if __name__ == "__main__":
    asyncio.run(main())
