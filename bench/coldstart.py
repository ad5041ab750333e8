"""Cold start: from spawning `cublab serve` (stdio, a fresh database) to the answer
to tools/list, against a bare MCPServer script with one tool, measured with the
same client code, interleaved, medians.

Target (issue 2): ratio under 1.3. Also checks, in a subprocess, that building
the server and answering tools/list imports neither SQLAlchemy nor alembic:
cublab loads them on the first tool call.
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

TARGET_RATIO = 1.3
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
from cublab.cli import app
from cublab.config import Settings
from cublab.mcp_server import build_server
from cublab.runtime import Runtime
build_server(Runtime(Settings(db=sys.argv[1], agent="agent:bench-coldstart", policy_path=None)))
heavy = sorted(m for m in ("sqlalchemy", "sqlmodel", "alembic", "yaml") if m in sys.modules)
print(f"{time.perf_counter() - t:.3f}", ",".join(heavy) or "-")
"""


def cublab_command() -> list[str]:
    script = shutil.which("cublab", path=str(Path(sys.executable).parent)) or shutil.which("cublab")
    return [script] if script else [sys.executable, "-m", "cublab"]


async def time_to_tools_list(command: list[str]) -> tuple[float, int]:
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
        elapsed = time.perf_counter() - start
    return elapsed, len(tools.tools)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    runs = 1 if args.quick else 10
    header(
        "bench/coldstart.py: spawn to tools/list over stdio",
        args,
        runs=f"{runs} each, interleaved",
        cublab=" ".join(cublab_command()),
    )
    cublab_times, bare_times = [], []
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        bare = Path(tmp, "bare_server.py")
        bare.write_text(BARE)
        for run in range(runs):
            db = str(Path(tmp, f"cold{run}.db"))
            t, n_cublab = anyio.run(
                time_to_tools_list, [*cublab_command(), "serve", "--db", db, "--agent", "agent:bench-coldstart"]
            )
            cublab_times.append(t)
            t, _ = anyio.run(time_to_tools_list, [sys.executable, str(bare)])
            bare_times.append(t)
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
    print(
        f"  importing cublab.cli + building the server: {float(import_time) * 1000:.0f} ms; heavy modules loaded: {heavy}; database file touched: {created}"
    )
    verdicts = Verdicts(args)
    verdicts.check("cold start ratio < 1.3", cublab / base < TARGET_RATIO, f"{cublab / base:.2f}x")
    verdicts.check(
        "no SQLAlchemy/alembic before the first tool call",
        heavy == "-" and not created,
        f"loaded: {heavy}, db created: {created}",
    )
    verdicts.exit()


if __name__ == "__main__":
    main()
