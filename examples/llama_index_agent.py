"""cublab's tools as llama-index FunctionTools, loaded the way llama-index-tools-mcp's docs load them.

    pip install llama-index-tools-mcp      # in the agent's environment; cublab has its own
    cublab authority import handler.yaml --space web-prod --unit handler --as human:you   # once, by a human
    cublab serve --http &  export CUBLAB_TOKEN=$(cublab tokens create --agent agent:llama-1 ...)   # then:
    python examples/llama_index_agent.py --url http://127.0.0.1:8765/mcp
    python examples/llama_index_agent.py [--cublab PATH] [--db PATH]   # or stdio (a server per call: slower)

`McpToolSpec(...).to_tool_list_async()` gives the tools to hand to a FunctionAgent; each is called here
with `acall`, as the agent calls it, and its ToolOutput's content is what the model reads. (llama-index
marks an MCP error result as a success, `is_error=False`; the text says what was refused, and
`raw_output.is_error` is true.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.tools.mcp import BasicMCPClient, McpToolSpec

from _workflow import Refused, arguments, http_headers, serve_args, server_env, workflow


async def main() -> None:
    options = arguments(__doc__.splitlines()[0])
    if options.url:
        client = BasicMCPClient(options.url, headers=http_headers(options))
    else:
        client = BasicMCPClient(options.cublab, args=serve_args(options), env=server_env())
    tools = {tool.metadata.name: tool for tool in await McpToolSpec(client).to_tool_list_async()}
    point = tools["result_log"].metadata.get_parameters_dict()
    print(f"SCHEMA result_log points fields: {sorted(_item_fields(point, 'points'))}")

    async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
        output = await tools[tool].acall(**args)
        result = output.raw_output
        if output.is_error or getattr(result, "is_error", False):
            raise Refused(output.content)
        return result.structured_content or {}

    await workflow(call)


def _item_fields(schema: dict[str, Any], name: str) -> set[str]:
    """The fields of an array argument's items, as the model is shown them (references followed)."""
    items = schema["properties"][name].get("items", {})
    if "$ref" in items:
        items = schema.get("$defs", {}).get(items["$ref"].removeprefix("#/$defs/"), {})
    return set(items.get("properties", {}))


if __name__ == "__main__":
    asyncio.run(main())
