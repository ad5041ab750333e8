"""A batch of measurements as columns, and its digest.

`result_log` receives up to 10,000 points as dicts. They are turned into columns
once (a few list comprehensions, no object per point): each point's series
(variant, metric) becomes a small integer into the batch's list of series, and
values, steps and repetitions become plain lists. The statistics, the stored
rows and the digest are all computed from these columns.

The digest (`sha256:<hex>`, docs/architecture.md "Result digest") covers the
points as stored, in order, in a fixed binary layout, so anyone can recompute it
from the measurements with `struct`/`array`:

    b"cublab-points-v1\\n"
    u32 number of series S, then per series in order of first appearance:
        u32 byte length + UTF-8 of the variant id, u32 byte length + UTF-8 of the metric
    u32 number of points N, then five columns of N entries each:
        u32  the point's series (0-based index into the list above)
        f64  the value (IEEE 754 binary64)
        u8   flags: 1 if a step was given, 2 if a repetition was given
        i64  the step (0 when not given)
        i64  the repetition (0 when not given)

All integers and floats little-endian. Hashing a few contiguous buffers costs a
tenth of hashing the points' JSON.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, cast

DIGEST_MAGIC = b"cublab-points-v1\n"
# Translation tables for bytes.translate, one per series number s: byte s becomes 1, every other byte 0.
_ONE_AT = [bytes(s) + b"\x01" + bytes(255 - s) for s in range(256)]
_U32 = struct.Struct("<I")
_VARIANT, _METRIC = itemgetter("variant"), itemgetter("metric")
_VALUE = itemgetter("value")


@dataclass(frozen=True)
class Columns:
    """A batch's points by column; `series[index[k]]` is point k's (variant, metric) as given."""

    series: list[tuple[str, str]]
    index: list[int]
    values: list[float]
    steps: list[int | None]
    repetitions: list[int | None]

    def __len__(self) -> int:
        return len(self.values)

    def first_point(self, series: int) -> int:
        """The position of the first point of a series, for messages."""
        return self.index.index(series)

    def renamed(self, names: Sequence[tuple[str, str]]) -> Columns:
        """The same points with each series renamed (a variant's name resolved to its id); series that become
        equal are merged, keeping the order of first appearance."""
        slots: dict[tuple[str, str], int] = {}
        remap = [slots.setdefault(name, len(slots)) for name in names]
        index = self.index if remap == list(range(len(remap))) else [remap[i] for i in self.index]
        return Columns(list(slots), index, self.values, self.steps, self.repetitions)

    def by_series(self) -> list[list[float]]:
        """The values of each series, in point order."""
        if len(self.series) == 1:
            return [self.values]
        if len(self.series) <= 256:
            # C-level passes only: the index as one byte per point, and per series a translation of it into a
            # 0/1 mask (bytes.translate) that `compress` selects the series' values with.
            index = bytes(self.index)
            masks = [_ONE_AT[s] for s in range(len(self.series))]
            return [list(compress(self.values, index.translate(mask))) for mask in masks]
        groups: list[list[float]] = [[] for _ in self.series]
        for i, value in zip(self.index, self.values, strict=True):
            groups[i].append(value)
        return groups


def columns(points: Sequence[Mapping[str, Any]]) -> Columns:
    """Validated points (dicts with variant, metric, value and optionally step and repetition) as columns."""
    dicts = cast("Sequence[dict[str, Any]]", points)  # validated JSON objects are dicts: dict.get maps in C
    variants: list[str] = list(map(_VARIANT, points))  # map and itemgetter: no Python frame per point
    metrics: list[str] = list(map(_METRIC, points))
    distinct_metrics = dict.fromkeys(metrics)
    if len(distinct_metrics) == 1:  # the usual batch: index by variant alone, no tuple per point to hash
        [metric] = distinct_metrics
        slots = {variant: n for n, variant in enumerate(dict.fromkeys(variants))}
        series = [(variant, metric) for variant in slots]
        index = list(map(slots.__getitem__, variants))
    else:
        keys = list(zip(variants, metrics, strict=True))
        pairs = {key: n for n, key in enumerate(dict.fromkeys(keys))}
        series, index = list(pairs), list(map(pairs.__getitem__, keys))
    return Columns(
        series=series,
        index=index,
        values=list(map(_VALUE, points)),
        steps=list(map(dict.get, dicts, repeat("step"))),
        repetitions=list(map(dict.get, dicts, repeat("repetition"))),
    )


def _le(typecode: str, items: Sequence[Any], size: int) -> bytes:
    column = array(typecode, items)
    assert column.itemsize == size
    if sys.byteorder == "big":
        column.byteswap()
    return column.tobytes()


def _text(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return _U32.pack(len(encoded)) + encoded


def _optional(column: list[int | None]) -> tuple[bytes, bytes]:
    """An optional integer column as i64 with 0 for each absent entry, and a 0/1 byte per entry saying whether it
    was given. When every entry is there (the usual case) the array takes the column as it is: no scan for None."""
    try:
        return _le("q", column, 8), b"\x01" * len(column)
    except TypeError:  # some entry is None
        return _le("q", [x or 0 for x in column], 8), bytes([x is not None for x in column])


def _flags(has_step: bytes, has_repetition: bytes) -> bytes:
    """Per point: 1 if a step was given, 2 if a repetition was given."""
    if has_step == has_repetition:  # both given everywhere (the usual case), or the same points have both
        return has_step.translate(_TIMES_THREE)
    return bytes([s | r << 1 for s, r in zip(has_step, has_repetition, strict=True)])


_TIMES_THREE = bytes([0, 3]) + bytes(254)  # translation table: 0 -> 0, 1 -> 3


def digest(batch: Columns) -> str:
    """`sha256:<hex>` of the batch in the layout the module's docstring documents."""
    h = hashlib.sha256(DIGEST_MAGIC)
    h.update(_U32.pack(len(batch.series)))
    for variant, metric in batch.series:
        h.update(_text(variant) + _text(metric))
    h.update(_U32.pack(len(batch)))
    h.update(_le("I", batch.index, 4))
    h.update(_le("d", batch.values, 8))
    steps, has_step = _optional(batch.steps)
    repetitions, has_repetition = _optional(batch.repetitions)
    h.update(_flags(has_step, has_repetition))
    h.update(steps)
    h.update(repetitions)
    return "sha256:" + h.hexdigest()
