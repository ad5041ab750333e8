"""The result batch digest written out point by point with struct, as docs/architecture.md documents it,
independently of domain/points.py, so a test can tell the implementation from the documented format."""

from __future__ import annotations

import hashlib
import struct


def points_digest(stored: list[tuple]) -> str:
    """`sha256:<hex>` of (variant_id, metric, value, step, repetition) tuples, in order."""
    series = list(dict.fromkeys((v, m) for v, m, *_ in stored))
    out = [b"cublab-points-v1\n", struct.pack("<I", len(series))]
    for variant, metric in series:
        for text in (variant.encode(), metric.encode()):
            out.append(struct.pack("<I", len(text)) + text)
    out.append(struct.pack("<I", len(stored)))
    out += [struct.pack("<I", series.index((v, m))) for v, m, *_ in stored]
    out += [struct.pack("<d", value) for _, _, value, _, _ in stored]
    out += [struct.pack("<B", (step is not None) | (rep is not None) << 1) for *_, step, rep in stored]
    out += [struct.pack("<q", step or 0) for *_, step, _ in stored]
    out += [struct.pack("<q", rep or 0) for *_, rep in stored]
    return "sha256:" + hashlib.sha256(b"".join(out)).hexdigest()
