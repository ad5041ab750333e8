"""cublab in the OpenAI Agents SDK, wired as its docs wire MCP servers: an Agent with `mcp_servers`, strict schemas on.

    pip install openai-agents              # in the agent's environment; cublab has its own
    cublab authority import handler.yaml --space web-prod --unit handler --as human:you   # once, by a human
    python examples/openai_agents.py [--cublab PATH] [--db PATH]       # stdio (MCPServerStdio)
    python examples/openai_agents.py --url http://127.0.0.1:8765/mcp --token "$CUBLAB_TOKEN"   # `cublab serve --http`

With `convert_schemas_to_strict=True` every cublab tool converts to a strict function schema (the SDK
would silently fall back to non-strict for one that could not). The tools are the ones `Runner` gives
the model (`agent.get_all_tools`); each is invoked as the runner does, and, like a strict model, the
calls name every argument, null for "the default". A refused call's text is what the model reads.
"""

from __future__ import annotations

import asyncio
import json
from itertools import count
from typing import Any

from agents import Agent, RunContextWrapper
from agents.mcp import MCPServerStdio, MCPServerStreamableHttp
from agents.tool_context import ToolContext

from _workflow import Refused, arguments, http_headers, parse, serve_args, server_env, workflow

ERROR = "An error occurred while running the tool"  # the SDK's default failure_error_function says this


def server(options: Any) -> MCPServerStdio | MCPServerStreamableHttp:
    if options.url:
        return MCPServerStreamableHttp(
            name="cublab",
            params={"url": options.url, "headers": http_headers(options)},
            use_structured_content=True,
            client_session_timeout_seconds=60,
        )
    return MCPServerStdio(
        name="cublab",
        params={"command": options.cublab, "args": serve_args(options), "env": server_env()},
        use_structured_content=True,
        client_session_timeout_seconds=60,
    )


async def main() -> None:
    options = arguments(__doc__.splitlines()[0])
    async with server(options) as cublab:
        agent = Agent(
            name="tuner",
            instructions="Tune the handler's memory through cublab.",
            mcp_servers=[cublab],
            mcp_config={"convert_schemas_to_strict": True},
        )
        tools = {tool.name: tool for tool in await agent.get_all_tools(RunContextWrapper(context=None))}
        loose = sorted(name for name, tool in tools.items() if not tool.strict_json_schema)
        print(f"STRICT {len(tools) - len(loose)}/{len(tools)} tools" + (f"; not strict: {loose}" if loose else ""))
        ids = count(1)

        async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
            tool = tools[name]
            every = {key: args.get(key) for key in tool.params_json_schema["properties"]}  # as a strict model sends
            text = json.dumps(every)
            context = ToolContext(context=None, tool_name=name, tool_call_id=f"call-{next(ids)}", tool_arguments=text)
            output = await tool.on_invoke_tool(context, text)
            result = output if isinstance(output, str) else output.get("text", "")
            if result.startswith(ERROR) or result.startswith("Error executing tool"):
                raise Refused(result)
            return parse(result)

        await workflow(call)


if __name__ == "__main__":
    asyncio.run(main())
