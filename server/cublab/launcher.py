"""The `cublab` program: `cublab guard` takes a fast path, everything else the full CLI.

`cublab guard` runs before every tool call an agent makes, so its start-up is the
guard's cost: it is sent to `cublab.guard_cli`, which imports neither typer, rich nor
the MCP SDK. Every other command goes to `cublab.cli` (typer).
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["guard"]:
        from cublab.guard_cli import main as guard

        raise SystemExit(guard(sys.argv[2:]))
    from cublab.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
