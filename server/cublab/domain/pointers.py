"""JSON Pointers (RFC 6901), written and read in one place.

The secret gate names a secret by its pointer, the risk classes read a patch's
pointers segment by segment, and the bypass engine walks documents by pointer.
All of them escape a key the same way ('~' becomes '~0', '/' becomes '~1'), so
the escaping is the `jsonpointer` library's (the one `jsonpatch` uses to apply
the same paths) rather than three copies of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from jsonpointer import escape, unescape

__all__ = ["child", "pointer", "tokens"]


def pointer(parts: Iterable[str | int]) -> str:
    """The pointer to `parts` (unescaped keys and indexes); `()` is "", the whole document.

    The same string as `jsonpointer.JsonPointer.from_parts(parts).path`, without
    parsing back what was just written (the secret gate calls this for every key).
    """
    return "".join("/" + escape(str(part)) for part in parts)


def child(base: str, key: str | int) -> str:
    """The pointer to member or index `key` of the node at `base`."""
    return base + "/" + escape(str(key))


@lru_cache(maxsize=1024)
def tokens(path: str) -> tuple[str, ...]:
    """The unescaped reference tokens of `path`; "" (the whole document) has none.

    For a valid pointer these are `jsonpointer.JsonPointer(path).parts`. A malformed
    one (no leading '/', a stray '~') is read leniently rather than refused: the
    rules that read pointers classify what they are given, and refusing a bad
    patch is the job of applying it (`domain/patch.py`). Memoised: a policy's
    pointers are read again for every document.
    """
    return tuple(unescape(token) for token in path.split("/")[1:])
