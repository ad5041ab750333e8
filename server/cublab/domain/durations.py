"""Durations as people write them: `90m`, `2h`, `7d`, `1h30m`, `45s`."""

from __future__ import annotations

import re
from datetime import timedelta

from cublab.domain.errors import InvalidInput

_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"^(\d+[smhdw])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=3650)
"""The longest duration cublab reads: about ten years, far beyond any lifetime a policy allows (sandboxes 72h,
proposals 7d), and far inside what dates can hold (`datetime.max` is 8,000 years away), so `now + ttl` never
overflows."""
MAX_DURATION_TEXT = "3650d"
_MAX_DIGITS = 12  # more digits than this in one part is over MAX_DURATION whatever the unit


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """Parse `text` or raise InvalidInput naming `field`."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: expected a duration such as '90m', '2h' or '7d', got {type(text).__name__}")
    compact = text.strip().lower().replace(" ", "")
    if not compact or not _WHOLE.match(compact):
        raise InvalidInput(f"{field}: {text!r} is not a duration; use a number and a unit, such as '90m', '2h' or '7d'")
    parts = _PART.findall(compact)
    too_long = (
        f"{field}: {text[:40]!r} is longer than {MAX_DURATION_TEXT} (ten years), the longest duration cublab accepts"
    )
    if any(len(n.lstrip("0")) > _MAX_DIGITS for n, _ in parts):  # refused before any arithmetic
        raise InvalidInput(too_long)
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidInput(too_long)
    if seconds <= 0:
        raise InvalidInput(f"{field}: {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """An exact spelling of `delta` as the policy writes it: hours below a week (`90m` is `1h30m`,
    `24h`, `72h`), days from a week on (`7d`)."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    units = (
        (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)) if seconds >= 7 * 86400 else (("h", 3600), ("m", 60), ("s", 1))
    )
    parts = []
    for unit, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
