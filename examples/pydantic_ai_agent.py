"""cublab as a pydantic-ai toolset (`MCPToolset`, as its docs wire MCP servers), every tool strict.

    pip install "pydantic-ai-slim[mcp,openai]"   # in the agent's environment; cublab has its own
    cublab authority import handler.yaml --space web-prod --unit handler --as human:you   # once, by a human
    python examples/pydantic_ai_agent.py [--cublab PATH] [--db PATH]

The agent runs for real, with a FunctionModel standing in for the LLM: it makes the calls of the
governed workflow (examples/_workflow.py) as tool calls, and reads each result (or, for a refused call,
the retry prompt pydantic-ai sends back) as a model would. With `strict=True` pydantic-ai rewrites each
tool schema for OpenAI's strict mode; the model checks that no argument was lost on the way.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.profiles.openai import OpenAIJsonSchemaTransformer

from _workflow import Refused, arguments, http_headers, parse, serve_args, server_env, workflow


def properties(schema: Any, where: str = "", defs: dict[str, Any] | None = None) -> set[str]:
    """Every argument path in a schema (`labels[].key`), references followed, to see what a rewrite keeps."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].removeprefix("#/$defs/"), {})
    found: set[str] = set()
    for branch in schema.get("anyOf") or []:  # strict mode writes a reference with a description as anyOf: [ref]
        found |= properties(branch, where, defs)
    for name, sub in (schema.get("properties") or {}).items():
        found |= {f"{where}{name}"} | properties(sub, f"{where}{name}.", defs)
    if isinstance(schema.get("items"), dict):
        found |= properties(schema["items"], f"{where.rstrip('.')}[].", defs)
    return found


def closed_maps(schema: Any, where: str = "") -> list[str]:
    """Objects a model can put nothing in: what strict mode makes of a free-form map."""
    if isinstance(schema, list):
        return [p for n, sub in enumerate(schema) for p in closed_maps(sub, f"{where}/{n}")]
    if not isinstance(schema, dict):
        return []
    here = [where or "/"] if schema.get("type") == "object" and not schema.get("properties") else []
    return here + [p for key, sub in schema.items() for p in closed_maps(sub, f"{where}/{key}")]


def lost_under_strict(tool_defs: list[Any]) -> list[str]:
    """Arguments OpenAI strict mode, as pydantic-ai applies it, would take away from a model."""
    lost = []
    for tool in tool_defs:
        strict = OpenAIJsonSchemaTransformer(tool.parameters_json_schema, strict=True).walk()
        lost += [f"{tool.name}.{p}" for p in sorted(properties(tool.parameters_json_schema) - properties(strict))]
        lost += [f"{tool.name}:{p} (closed)" for p in closed_maps(strict)]
    return lost


async def main() -> None:
    options = arguments(__doc__.splitlines()[0])
    # A first start migrates the database: give the handshake time on a busy machine.
    timeouts = {"max_retries": 3, "init_timeout": 120, "read_timeout": 120}
    if options.url:
        toolset = MCPToolset(options.url, headers=http_headers(options), **timeouts)
    else:
        toolset = MCPToolset(StdioTransport(options.cublab, serve_args(options), env=server_env()), **timeouts)
    cublab = toolset.prepared(lambda ctx, tool_defs: [replace(tool, strict=True) for tool in tool_defs])
    requests: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
    replies: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
    schemas: dict[str, dict[str, Any]] = {}

    async def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not schemas:
            loose = [t.name for t in info.function_tools if t.strict is not True]
            print(
                f"STRICT {len(info.function_tools) - len(loose)}/{len(info.function_tools)} tools; lost: {lost_under_strict(info.function_tools)}"
            )
            schemas.update({t.name: t.parameters_json_schema for t in info.function_tools})
        returned = [p for p in messages[-1].parts if getattr(p, "tool_name", None)]
        if returned:  # what the agent reads back: the tool's result, or the retry prompt for a refused call
            part = returned[-1]
            failed = part.part_kind == "retry-prompt" or getattr(part, "outcome", "success") != "success"
            await replies.put(
                (part.model_response() if part.part_kind == "retry-prompt" else part.model_response_str(), failed)
            )
        request = await requests.get()
        if request is None:
            return ModelResponse(parts=[TextPart("done")])
        tool, args = request
        every = {key: args.get(key) for key in schemas[tool]["properties"]}  # a strict model sends every argument
        return ModelResponse(parts=[ToolCallPart(tool, every)])

    async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
        await requests.put((tool, args))
        text, failed = await replies.get()
        if failed:
            raise Refused(text)
        return parse(text)

    agent = Agent(FunctionModel(model), toolsets=[cublab])
    async with agent:
        run = asyncio.create_task(agent.run("Tune the handler's memory through cublab."))
        try:
            await workflow(call)
        finally:
            await requests.put(None)
        await run


if __name__ == "__main__":
    asyncio.run(main())
