"""Cold start: from spawning `cublab serve` (stdio, a fresh database) to the answer
to tools/list, and to the first tool result, against a bare MCPServer script with
one tool, measured with the same client code, interleaved, medians.

Targets (issue 12): to tools/list at most 1.2x the bare script, to the first tool
result at most 1.6x. cublab's first call is `sandbox_list` on the fresh database (it
builds the application: SQLAlchemy, the schema, the audit key); the bare script's is
its one tool. Also checks, in a subprocess, that building the server imports neither
SQLAlchemy, alembic, the CLI framework, the policy's YAML nor rich (the SDK's logging
set-up would import it only for its handler to be discarded): cublab loads what the first
tool call needs on that call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread

TARGET_RATIO = 1.2
TARGET_FIRST_RESULT = 1.6
BARE = """\
from mcp.server import MCPServer

server = MCPServer("bare")


@server.tool()
def constant() -> str:
    return "ok"


server.run("stdio")
"""
LAZY_CHECK = """\
import sys, time
t = time.perf_counter()
from cublab import launcher, serve
from cublab.config import Settings
from cublab.mcp_server import build_server
from cublab.runtime import Runtime
build_server(Runtime(Settings(db=sys.argv[1], agent="agent:bench-coldstart", policy_path=None)))
heavy = sorted(m for m in ("sqlalchemy", "sqlmodel", "alembic", "yaml", "typer", "rich") if m in sys.modules)
print(f"{time.perf_counter() - t:.3f}", ",".join(heavy) or "-")
"""


def cublab_command() -> list[str]:
    script = shutil.which("cublab", path=str(Path(sys.executable).parent)) or shutil.which("cublab")
    return [script] if script else [sys.executable, "-m", "cublab"]


async def time_to_tools_list(command: list[str], first_tool: str) -> tuple[float, float, int]:
    """Seconds from spawning the server to its tools/list answer and to the result of its first tool call."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=command[0],
        args=command[1:],
        env={"CUBLAB_LOG_LEVEL": "WARNING", **{k: v for k, v in os.environ.items() if k.startswith("CUBLAB_AUDIT_")}},
    )
    start = time.perf_counter()
    async with Client(params) as client:
        tools = await client.list_tools()
        listed = time.perf_counter() - start
        result = await client.call_tool(first_tool, {})
        first = time.perf_counter() - start
        assert not result.is_error, result.content[0].text
    return listed, first, len(tools.tools)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    runs = 1 if args.quick else 10
    header(
        "bench/coldstart.py: spawn to tools/list over stdio",
        args,
        runs=f"{runs} each, interleaved",
        cublab=" ".join(cublab_command()),
    )
    cublab_times, bare_times, cublab_first, bare_first = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        bare = Path(tmp, "bare_server.py")
        bare.write_text(BARE)
        for run in range(runs):
            db = str(Path(tmp, f"cold{run}.db"))
            t, first, n_cublab = anyio.run(
                time_to_tools_list,
                [*cublab_command(), "serve", "--db", db, "--agent", "agent:bench-coldstart"],
                "sandbox_list",
            )
            cublab_times.append(t)
            cublab_first.append(first)
            t, first, _ = anyio.run(time_to_tools_list, [sys.executable, str(bare)], "constant")
            bare_times.append(t)
            bare_first.append(first)
        lazy = subprocess.run(
            [sys.executable, "-c", LAZY_CHECK, str(Path(tmp, "lazy.db"))],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        import_time, heavy = lazy.stdout.split()
        created = Path(tmp, "lazy.db").exists()
    cublab, base = median(cublab_times), median(bare_times)
    print(
        f"  cublab serve -> tools/list ({n_cublab} tools): median {cublab * 1000:.0f} ms ({spread([x * 1000 for x in cublab_times])})"
    )
    print(
        f"  bare MCPServer script -> tools/list (1 tool): median {base * 1000:.0f} ms ({spread([x * 1000 for x in bare_times])})"
    )
    print(f"  ratio: {cublab / base:.2f}x")
    first, base_first = median(cublab_first), median(bare_first)
    print(
        f"  cublab serve -> first tool result (sandbox_list, fresh database): median {first * 1000:.0f} ms ({spread([x * 1000 for x in cublab_first])})"
    )
    print(
        f"  bare MCPServer script -> first tool result: median {base_first * 1000:.0f} ms ({spread([x * 1000 for x in bare_first])})"
    )
    print(f"  ratio: {first / base_first:.2f}x")
    print(
        f"  importing the serve path (launcher, serve, mcp_server) + building the server: {float(import_time) * 1000:.0f} ms; heavy modules loaded: {heavy}; database file touched: {created}"
    )
    verdicts = Verdicts(args)
    verdicts.check("cold start to tools/list <= 1.2x", cublab / base <= TARGET_RATIO, f"{cublab / base:.2f}x")
    verdicts.check(
        "cold start to the first tool result <= 1.6x",
        first / base_first <= TARGET_FIRST_RESULT,
        f"{first / base_first:.2f}x",
    )
    verdicts.check(
        "no SQLAlchemy, alembic, typer, YAML or rich before the first tool call",
        heavy == "-" and not created,
        f"loaded: {heavy}, db created: {created}",
    )
    verdicts.exit()


if __name__ == "__main__":
    main()
