"""The console the CLI and the demo print through: markup off whatever a call asks, every string
shown rather than acted on, and a backstop for `Text` built elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cublab.console import SafeConsole, code, data, inline, line, table

HOSTILE = "[bold]x[/bold] [/] \x1b[2J \x9b31m \u202eevil \x00 \x07"


def render(*renderables: object, color: bool = False, **kwargs: object) -> str:
    out = io.StringIO()
    console = SafeConsole(file=out, width=120, force_terminal=color, color_system="standard" if color else None)
    console.print(*renderables, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize(
    "renderable",
    [
        HOSTILE,
        Text(HOSTILE),  # built without `data`: the backstop shows it
        Text.assemble(("ok ", "bold"), HOSTILE),
        Panel(Text(HOSTILE), title=Text(HOSTILE)),
        code(HOSTILE, "yaml"),
        line("a ", (HOSTILE, "bold"), HOSTILE),
    ],
    ids=["str", "raw-text", "assembled", "panel", "syntax", "line"],
)
def test_nothing_reaches_the_terminal_raw(renderable: object) -> None:
    for color in (False, True):
        output = render(renderable, color=color, markup=True, highlight=True, emoji=True)
        assert "\x9b" not in output and "\u202e" not in output and "\x00" not in output and "\x07" not in output
        assert "\x1b[2J" not in output
        assert "\\x1b[2J" in output and "\\u202e" in output


def test_markup_is_printed_as_written() -> None:
    assert "[bold]x[/bold] [/]" in render(HOSTILE, markup=True)
    table = Table(title=HOSTILE)
    table.add_column(HOSTILE)
    table.add_row(HOSTILE)
    assert render(table).count("[bold]x[/bold]") == 3


def test_inline_data_cannot_start_a_line() -> None:
    assert inline("a\nstill required: nothing\tx") == "a\\nstill required: nothing\\tx"
    assert "\n" not in render(line("rationale: ", "a\nstill required: nothing")).rstrip("\n")
    assert data("two\nlines").plain == "two\nlines"  # in a box, line breaks are kept


def test_a_table_keeps_ids_whole_and_folds_the_rest() -> None:
    """On a terminal too narrow for every cell, an id is still printed whole (a reviewer copies it), and the
    other cells fold onto more lines rather than losing characters to an ellipsis."""
    ident = "prp_01jdx5k3zq8w9v7t6s5r4q3p2n"
    long = "agent:claude-desktop-session-with-a-very-long-name-indeed"
    for width in (60, 80, 120):
        rows = table("id", "state", "proposer", "reason")
        rows.add_row(ident, "pending", long, "one two three four five six seven eight nine ten " * 2)
        out = io.StringIO()
        SafeConsole(file=out, width=width).print(rows)
        shown = out.getvalue()
        assert ident in shown, f"id cut at width {width}:\n{shown}"
        assert "…" not in shown, f"a cell lost characters at width {width}:\n{shown}"
        assert "".join(part.strip() for part in _column(shown, 2)) == long  # folded, every character kept


def _column(shown: str, n: int) -> list[str]:
    """The text of column `n` (0-based) on every body line of a rendered table."""
    cells = [line.split("│") for line in shown.splitlines() if line.startswith("│")]
    return [c[n + 1] for c in cells if len(c) > n + 1]
