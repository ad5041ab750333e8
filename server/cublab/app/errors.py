"""Readable messages from pydantic validation errors (`field: message` per problem), and the signal that sends a
read off the event loop."""

from __future__ import annotations

from pydantic import ValidationError

from cublab.domain.errors import InvalidInput


def invalid_input(exc: ValidationError) -> InvalidInput:
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - 10
    if more > 0:
        parts.append(f"and {more} more problems")
    return InvalidInput("; ".join(parts))


class LeaveTheLoop(Exception):
    """A use case reading through the event loop's reader (`Runtime.on_loop`) found it would read more than the
    loop may spend on one call (a scan, on a rare path): the call is made again on a worker thread, as a read
    that meets a lock is (mcp_server._tool_function)."""
