"""The console entry point's fast path for `cublab serve` (launcher.py) parses exactly what the typer
command takes, and hands everything else to the typer CLI."""

from __future__ import annotations

import typer

from cublab.cli import app
from cublab.launcher import TYPER_ONLY, _parser, serve_options


def _typer_serve_options() -> dict[str, bool]:
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return {opt: bool(param.is_flag) for param in command.params for opt in param.opts if opt.startswith("--")}


def _fast_path_options() -> dict[str, bool]:
    return {
        opt: action.nargs == 0 for action in _parser()._actions for opt in action.option_strings if opt.startswith("--")
    }


def test_the_fast_path_takes_exactly_the_serve_command_options() -> None:
    typer_options = _typer_serve_options()
    assert set(TYPER_ONLY) <= set(typer_options)
    assert _fast_path_options() == {k: v for k, v in typer_options.items() if k not in TYPER_ONLY}


def test_defaults_and_values_match_the_serve_command() -> None:
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    left = {opt.lstrip("-").replace("-", "_") for opt in TYPER_ONLY} | {"as_"}
    typer_defaults = {param.name: param.default for param in command.params if param.name not in left}
    assert serve_options([]) == typer_defaults
    argv = ["--http", "--port=9000", "--db", "x.db", "--in-place-confirmed-approval-trigger"]
    argv += ["--toolsets", "sandboxes", "--toolsets", "policy", "--allowed-host", "a.example", "--read-only"]
    assert serve_options(argv) == {
        **typer_defaults,
        "http": True,
        "port": 9000,
        "db": "x.db",
        "in_place_confirmed": True,
        "toolsets": ["sandboxes", "policy"],
        "allowed_host": ["a.example"],
        "read_only": True,
    }


def test_anything_else_goes_to_the_typer_cli() -> None:
    for argv in (
        ["--help"],
        ["-h"],
        ["--port", "many"],
        ["--unknown"],
        ["--db"],
        ["extra"],
        ["--ht"],
        ["--http", "--ui"],
    ):
        assert serve_options(argv) is None, argv
