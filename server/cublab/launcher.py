"""The `cublab` program: `cublab guard` and `cublab serve` take fast paths, everything else the full CLI.

`cublab guard` runs before every tool call an agent makes, so its start-up is the guard's cost: it
is sent to `cublab.guard_cli`, which imports neither typer, rich nor the MCP SDK. An MCP host starts
`cublab serve` for every agent session, so whatever it imports before it answers `tools/list` is
paid by every session: its options are parsed here with argparse, without typer. Anything else
(another command, `--help`, an option or a value this parser does not take) goes to the typer CLI
(`cublab.cli`), which stays the reference: `cublab serve --help` documents the same options, and
`tests/unit/test_launcher.py` keeps the two in step.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn


class _NotHere(Exception):
    """The arguments are for the typer CLI to parse (and to explain, if they are wrong)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotHere(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cublab serve", add_help=False, allow_abbrev=False)
    for name in ("--db", "--policy", "--agent", "--authority", "--confighub-mode"):
        parser.add_argument(name)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--no-auth", action="store_true")
    for name in ("--auth-issuer", "--auth-audience", "--public-url"):
        parser.add_argument(name)
    for name in ("--allowed-host", "--allowed-origin", "--toolsets"):
        parser.add_argument(name, action="append")
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--in-place-confirmed-approval-trigger", dest="in_place_confirmed", action="store_true")
    parser.add_argument("--log-format", default="")
    return parser


# Options the fast path leaves to the typer CLI: the review console (`--ui` and its login) is not what an MCP
# host starts for an agent session. Given any of them, parse_known_args leaves them over and typer parses all.
TYPER_ONLY = ("--ui", "--as", "--trusted-user-header", "--trusted-proxy")


def serve_options(argv: list[str]) -> dict[str, Any] | None:
    """The options of `cublab serve <argv>`, or None when the typer CLI should handle them."""
    if "--help" in argv or "-h" in argv:
        return None
    try:
        options, rest = _parser().parse_known_args(argv)
    except _NotHere:
        return None
    return None if rest else vars(options)


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["guard"]:
        from cublab.guard_cli import main as guard

        raise SystemExit(guard(argv[1:]))
    options = serve_options(argv[1:]) if argv[:1] == ["serve"] else None
    if options is None:
        from cublab.cli import main as cli_main

        cli_main()
        return
    from cublab.serve import Refused, reporting_faults, serve

    try:
        reporting_faults(lambda: serve(**options))
    except Refused as exc:
        from cublab.console import echo

        echo(f"error: {exc}", err=True, style="red")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
