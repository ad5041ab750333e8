"""Everything an agent wrote is shown as data: the one console the CLI and the demo print through.

A reviewer's terminal is the only human control, so text an agent wrote (a rationale, a
name, a label, a config value, an error a remote authority sent back) must never act on it.
Deny by default, in three layers:

1. `SafeConsole` has markup, highlighting and emoji off, whatever a call asks for: `[bold]`,
   `[conceal]`, `[link=…]` and `[/]` in a string are printed as they are written, never
   interpreted (and never crash a command with a MarkupError).
2. Every string it renders (`print(str)`, table cells, table titles) passes through
   `domain.text.for_display`, which shows each control and bidirectional character as an
   escape (`\\x1b`, `\\u202e`) instead of letting the terminal act on it; and as a backstop,
   every segment it emits is passed through it again, so a `Text` built elsewhere cannot
   carry a raw ESC, C1 or bidi override to the terminal either.
3. Layout: agent text that may hold a newline is shown either inside a box (a panel or a
   table cell, whose border starts every line) or on one line with its newlines escaped
   (`inline`), so it can never begin a line of its own that looks like cublab's, such as a
   fake `still required: nothing`.

cublab's own styling is built explicitly (`line`, `styled`), never from markup strings
holding data.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, HighlighterType, JustifyMethod, OverflowMethod, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Column, Table
from rich.text import Text

from cublab.domain.text import for_display

__all__ = ["SafeConsole", "code", "console", "data", "echo", "inline", "line", "styled", "table"]

Part = str | Text | tuple[str, str]


class SafeConsole(Console):
    """A rich Console that never interprets or passes through what it is given as text."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(markup=False, highlight=False, emoji=False)
        super().__init__(**kwargs)

    def render_str(
        self,
        text: str,
        *,
        style: str | Style = "",
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        highlighter: HighlighterType | None = None,
    ) -> Text:
        """Plain text, shown: the `markup`, `emoji` and `highlight` a caller asks for are ignored."""
        return super().render_str(
            for_display(text),
            style=style,
            justify=justify,
            overflow=overflow,
            emoji=False,
            markup=False,
            highlight=False,
        )

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        """The backstop: no segment of text reaches the terminal holding a control or bidi character.
        (Control segments are rich's own cursor movements, not text.)"""
        for segment in super().render(renderable, options):
            if segment.control:
                yield segment
                continue
            shown = for_display(segment.text)
            yield segment if shown == segment.text else Segment(shown, segment.style)


def console(stderr: bool = False) -> SafeConsole:
    """The console for stdout (or stderr); tables at full width when piped, so ids are never cut."""
    stream = sys.stderr if stderr else sys.stdout
    return SafeConsole(stderr=stderr) if stream.isatty() else SafeConsole(stderr=stderr, width=240)


def inline(value: object) -> str:
    """Data on one line: controls and bidi characters escaped, and line breaks and tabs too."""
    return for_display(str(value)).replace("\n", "\\n").replace("\t", "\\t")


def data(value: object, style: str = "") -> Text:
    """Data for a box (a panel, a table cell, a syntax block): shown, line breaks kept."""
    return Text(for_display(str(value)), style=style)


def styled(text: str, style: str) -> Text:
    """cublab's own words, in a style (never data: see `line`)."""
    return Text(for_display(text), style=style)


def line(*parts: Part) -> Text:
    """One line of output: `str` parts are data (shown inline), `(text, style)` are cublab's own styled
    words, `Text` parts are used as built (by `data`, `styled` or `line`)."""
    out = Text()
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            out.append(inline(part[0]), style=part[1])
        else:
            out.append(inline(part))
    return out


def code(text: str, lexer: str) -> Syntax:
    """A syntax-highlighted block (a diff, a unit's YAML) of data: shown, never acted on."""
    return Syntax(for_display(text), lexer, theme="ansi_dark")


def echo(*parts: Part, err: bool = False, style: str = "") -> None:
    """`typer.echo` for text that may hold data: one line, never wrapped, shown. Text holding line
    breaks of cublab's own (a diff, the policy's YAML) is passed as one `data(...)` part."""
    out = line(*parts)
    if style:
        out.stylize(style)
    console(stderr=err).print(out, soft_wrap=True)


def table(*headers: str, ids: Collection[str] = ("id",), title: str | Text | None = None) -> Table:
    """A table of data whose id columns (named in `ids`) are never cut or wrapped, so a reviewer can copy an id
    whole from any listing; every other cell folds onto more lines instead of losing characters to an ellipsis.
    Piped output is 240 columns wide (`console`), so ids are whole there too, whatever the table holds."""
    return Table(
        *(Column(h, no_wrap=True) if h in ids else Column(h, overflow="fold") for h in headers),
        title=title,
    )
