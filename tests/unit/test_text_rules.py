"""Agent-written text is data: what stored text refuses, how it is shown, what counts as visible."""

from __future__ import annotations

import pytest

from cublab.domain.text import fold, for_display, has_visible_text, unsafe_character


@pytest.mark.parametrize(
    "text",
    [
        "nul\x00here",
        "esc\x1b[2J",
        "bell\x07",
        "cr\rlf",
        "del\x7f",
        "c1\x9b31m",
        "rlo\u202eevil",
        "lri\u2066x",
        "pdi\u2069",
    ],
)
def test_stored_text_refuses_controls_and_bidi_overrides(text: str) -> None:
    problem = unsafe_character(text)
    assert problem is not None and problem.startswith("U+")


@pytest.mark.parametrize("text", ["plain", "two\nlines", "tab\tseparated", "ünïcödé ✓ 日本語", "emoji 🚀", ""])
def test_ordinary_text_is_stored(text: str) -> None:
    assert unsafe_character(text) is None


def test_display_shows_escapes_instead_of_acting_on_them() -> None:
    shown = for_display("ok\x1b[31mred\u202eevil\x00")
    assert "\x1b" not in shown and "\u202e" not in shown and "\x00" not in shown
    assert shown == "ok\\x1b[31mred\\u202eevil\\x00"
    assert for_display("line one\nline two\ttab") == "line one\nline two\ttab"


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("a reason", True),
        ("ok", True),
        ("\u200b\u2060", False),
        ("   \t\n", False),
        ("\u3164\u115f", False),
        ("\u2800\u2800", False),
        ("\u0301", False),
        ("", False),
        (None, False),
        ("→", True),
    ],
)
def test_visible_text(text: str | None, visible: bool) -> None:
    assert has_visible_text(text) is visible


def test_fold_makes_one_spelling_per_name() -> None:
    assert fold("Carol") == fold("carol") == fold("ＣＡＲＯＬ") == "carol"
    assert fold("Straße") == fold("STRASSE")
