"""Text an agent wrote is data: rules for storing it and for showing it to a human.

Two threats drive this module. Stored text that a backend refuses (NUL on
PostgreSQL) or that rewrites a terminal (escape sequences) or reorders what a
reviewer reads (bidirectional overrides) is refused at the input model. And
text that is already stored, or arrives by another path, is neutralised before
any terminal or page shows it: every control and bidi character is shown as a
visible escape, never acted on.

A reason or justification must also say something: zero-width and blank
characters alone are not a justification a reviewer can read.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from cublab.domain.pointers import child

# C0 controls except tab and newline, DEL, C1 controls, and the bidi embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_REFUSED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# For display, also the implicit direction marks and the line/paragraph separators,
# which move or break what a reviewer reads without being refused as input.
_SHOWN_ESCAPED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Letters that render as nothing (Hangul fillers, the braille blank) besides the
# format (Cf), separator (Z*) and control (Cc) categories.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def unsafe_character(text: str) -> str | None:
    """The first character stored text may not hold, described for an error message; None when clean."""
    match = _REFUSED.search(text)
    if match is None:
        return None
    char = match.group()
    name = unicodedata.name(char, "control character")
    return f"U+{ord(char):04X} ({name}) at position {match.start()}"


def refused_characters_rule() -> str:
    """The limit, in words, for messages and docs."""
    return "no NUL, control characters (other than newline and tab) or bidirectional overrides"


def nul_in_document(document: Any, base: str = "") -> str | None:
    """Where a JSON document holds U+0000 in a key or a string value (PostgreSQL cannot store it); None when clean.

    The answer is a JSON Pointer (RFC 6901) below `base`; for a key, the pointer to the
    object holding it and the key's position, since the key itself is the bad text.
    Other control characters are data in a configuration document: they are stored, and
    shown to a human only through `for_display`.
    """
    if isinstance(document, str):
        return (base or "(the whole document)") if "\x00" in document else None
    if isinstance(document, dict):
        for n, (key, value) in enumerate(document.items()):
            if "\x00" in str(key):
                return f"{base or '(the top level)'}, key number {n + 1}"
            found = nul_in_document(value, child(base, str(key)))
            if found is not None:
                return found
    elif isinstance(document, list):
        for n, item in enumerate(document):
            found = nul_in_document(item, child(base, n))
            if found is not None:
                return found
    return None


def for_display(text: str) -> str:
    """The text with every control and bidi character shown as an escape (`\\x1b`, `\\u202e`), never acted on."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _SHOWN_ESCAPED.sub(escape, text)


def has_visible_text(text: str | None) -> bool:
    """True when a reader would see at least one character that is not blank."""
    if not text:
        return False
    for char in unicodedata.normalize("NFKC", text):
        if char in _INVISIBLE_LETTERS:
            continue
        if unicodedata.category(char)[0] in ("Z", "C", "M"):
            continue  # separators, controls, format (zero-width) characters, combining marks alone
        return True
    return False


def fold(text: str) -> str:
    """One spelling per name: Unicode NFKC, then case-folded (`Carol`, fullwidth `CAROL` and `carol` agree)."""
    return unicodedata.normalize("NFKC", text).casefold()
