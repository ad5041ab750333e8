"""Serving MCP over stdio so that every request is answered, malformed ones included.

The SDK's stdio reader (`mcp.server.stdio.stdio_server`, mcp 2.3) validates each line with pydantic; when that
fails it puts the exception on the read stream, and the dispatcher only logs it at DEBUG
(`JSONRPCDispatcher._dispatch`). So a line the parser refuses is never answered, and a client waits forever. A
well-formed request nested about 200 levels deep is such a line: pydantic's JSON parser (jiter) stops at its
recursion limit, while the streamable HTTP transport answers the same message with a JSON-RPC error. cublab wraps
the read stream: an exception from the reader becomes a JSON-RPC error response (-32700 when the line is not JSON,
-32600 when it is JSON but not a message the server can take), with the request's id when one can be found in the
line, `null` otherwise, as JSON-RPC 2.0 prescribes.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, cast

import mcp_types as types
from mcp.server import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

_log = logging.getLogger("cublab.stdio")
_ID = re.compile(r'^\s*\{.*?"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)', re.DOTALL)


def _line_of(exc: Exception) -> str | None:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return None
    try:
        for error in errors():
            if isinstance(error.get("input"), str):
                return str(error["input"])
    except Exception:
        return None
    return None


def _request_id(line: str) -> tuple[bool, str | int | None]:
    """Whether the line is JSON at all, and the request's id if it has one (None for a notification or unknown)."""
    try:
        message = json.loads(line)
    except RecursionError:  # deeper than Python's own parser goes: look for a top-level id near the start
        found = _ID.match(line[:4096])
        return True, json.loads(found.group(1)) if found else None
    except ValueError:
        return False, None
    if isinstance(message, dict):
        value = message.get("id")
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return True, value
    return True, None


def error_response(exc: Exception) -> types.JSONRPCError | None:
    """The answer to a line the SDK's reader refused, or None for a notification (which gets no answer)."""
    line = _line_of(exc)
    if line is None:
        return types.JSONRPCError(
            jsonrpc="2.0", id=None, error=types.ErrorData(code=types.PARSE_ERROR, message="Parse error")
        )
    is_json, request_id = _request_id(line)
    if is_json and request_id is None and '"method"' in line[:4096] and '"id"' not in line[:4096]:
        return None  # a malformed notification: nothing to answer
    text = str(exc).splitlines()
    reason = text[1].strip() if len(text) > 1 else "the message is not a valid JSON-RPC message"
    reason = re.sub(r"\s*\[type=.*$", "", reason)
    if is_json and "recursion limit" in reason:
        reason = "the message is nested too deeply (the limit is about 200 levels)"
    if not is_json or "Invalid JSON" in reason:
        return types.JSONRPCError(
            jsonrpc="2.0",
            id=request_id,
            error=types.ErrorData(code=types.PARSE_ERROR if not is_json else types.INVALID_REQUEST, message=reason),
        )
    return types.JSONRPCError(
        jsonrpc="2.0",
        id=request_id,
        error=types.ErrorData(code=types.INVALID_REQUEST, message=f"Invalid Request: {reason}"),
    )


class _Answering:
    """The reader's stream, minus exceptions: each is answered on the write stream instead of dropped."""

    def __init__(self, inner: Any, write: Any) -> None:
        self._inner = inner
        self._write = write

    def __getattr__(self, name: str) -> Any:  # last_context, aclose, close, receive: the reader's stream's own
        return getattr(self._inner, name)

    async def __aenter__(self) -> _Answering:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)

    def __aiter__(self) -> _Answering:
        return self

    async def __anext__(self) -> Any:
        while True:
            item = await self._inner.__anext__()
            if not isinstance(item, Exception):
                return item
            answer = error_response(item)
            _log.warning("refused a malformed message on stdin: %s", answer.error.message if answer else "notification")
            if answer is not None:
                await self._write.send(SessionMessage(answer))


async def run_stdio(server: MCPServer) -> None:
    """`server.run("stdio")`, with every line answered. Uses the SDK's own reader and its low-level server, as
    `MCPServer.run_stdio_async` does."""
    lowlevel = server._lowlevel_server  # private, but the SDK's own run_stdio_async does exactly this
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(
            cast(Any, _Answering(read_stream, write_stream)), write_stream, lowlevel.create_initialization_options()
        )
