"""Diffs as HTML: two variants side by side, and a proposal's unified diff line by line.

difflib.HtmlDiff escapes the lines it compares; the column headers it does not,
so they are escaped here. Agent-written configuration is data on the page.
"""

from __future__ import annotations

import difflib
from typing import Any

from markupsafe import Markup, escape

from cublab.domain.diff import as_yaml


def side_by_side(a: dict[str, Any], b: dict[str, Any], a_label: str, b_label: str) -> Markup:
    """An HTML table of the two configurations as YAML, changed lines marked (context: the whole document)."""
    table = difflib.HtmlDiff(tabsize=2, wrapcolumn=70).make_table(
        as_yaml(a).splitlines(),
        as_yaml(b).splitlines(),
        fromdesc=str(escape(a_label)),
        todesc=str(escape(b_label)),
    )
    return Markup(table)


def unified_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) for each line of a unified diff; the template escapes the line."""
    kinds = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        kinds.append((kind, line))
    return kinds
