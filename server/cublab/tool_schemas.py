"""The tools' published schemas, derived ahead of time and shipped beside this module (tool_schemas.json).

Deriving the input and output schemas of every tool from its pydantic models is most of what
`cublab serve` would otherwise do before it can answer `tools/list`, in every agent session. The
file records them with a fingerprint of everything they are derived from: the source of the tool
registry and of the models (mcp_server.py, portable_schema.py, app/inputs.py, app/outputs.py,
domain/), pydantic's version and the MCP SDK's schema derivation. The server uses the file only while the fingerprint matches,
and derives the schemas itself otherwise, so a stale file costs start-up time, never a wrong schema.
`tests/app/test_published_schemas.py` checks the file against a fresh derivation; after a change:

    CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/app/test_published_schemas.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).parent
FILE = PACKAGE / "tool_schemas.json"
_SOURCES = ("mcp_server.py", "portable_schema.py", "app/inputs.py", "app/outputs.py")


def fingerprint() -> str:
    """sha256 over pydantic's version, the MCP SDK's schema derivation and the source the schemas come from.

    (The SDK's version would need its distribution metadata, slower to find than its two files are to read.)
    """
    import mcp.server.mcpserver.tools.base as sdk_tool
    import mcp.server.mcpserver.utilities.func_metadata as sdk_derivation
    import pydantic

    digest = hashlib.sha256()
    digest.update(f"pydantic {pydantic.VERSION}\n".encode())
    files = [Path(str(sdk_tool.__file__)), Path(str(sdk_derivation.__file__))]
    files += [PACKAGE / name for name in _SOURCES] + sorted((PACKAGE / "domain").rglob("*.py"))
    for path in files:
        digest.update(f"{path.name}\n".encode())
        digest.update(path.read_bytes())
    return "sha256:" + digest.hexdigest()


def load() -> dict[str, dict[str, Any]] | None:
    """Each tool's {"inputSchema", "outputSchema"}, or None when the file is missing or stale."""
    try:
        recorded = json.loads(FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or recorded.get("fingerprint") != fingerprint():
        return None
    tools = recorded.get("tools")
    return tools if isinstance(tools, dict) else None


def render(tools: dict[str, dict[str, Any]]) -> str:
    """The file's text for these schemas, with the current fingerprint."""
    return json.dumps({"fingerprint": fingerprint(), "tools": tools}, indent=1, sort_keys=True) + "\n"
