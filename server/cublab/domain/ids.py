"""Opaque, time-ordered ids (`sbx_…`, `exp_…`, `var_…`, `prp_…`).

A millisecond timestamp in front of 80 random bits (the ULID layout, Crockford
base32) makes ids sort in creation order, so a page cursor is simply the last id
seen. Callers must treat ids as opaque strings.
"""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
PREFIXES = {
    "sandbox": "sbx",
    "experiment": "exp",
    "variant": "var",
    "proposal": "prp",
    "decision": "dec",
    "obligation": "obl",
    "token": "tok",
}
ID_PATTERN = re.compile(r"^(?P<prefix>[a-z]{3})_[0-9a-z]{26}$")


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_last = [0, 0]  # (ms, random part) of the newest id made in this process
_lock = threading.Lock()


def new_id(kind: str, now_ms: int | None = None) -> str:
    """A fresh id for an object of `kind` (a key of PREFIXES).

    Monotonic within a process (as ULID specifies): ids made in the same
    millisecond, or while the clock steps back, continue from the previous one
    instead of sorting at random, so "newest first" pages stay in creation order.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    with _lock:
        if now_ms is None and ms <= _last[0] and _last[1] < (1 << 80) - 1:
            ms, rand = _last[0], _last[1] + 1
        if now_ms is None:
            _last[0], _last[1] = ms, rand
    return f"{PREFIXES[kind]}_{_b32(ms, 10)}{_b32(rand, 16)}"


def is_id_of(kind: str, value: object) -> bool:
    """True when `value` has the shape of an id of `kind`."""
    if not isinstance(value, str):
        return False
    match = ID_PATTERN.fullmatch(value)  # `$` alone would accept a trailing newline
    return match is not None and match.group("prefix") == PREFIXES[kind]
