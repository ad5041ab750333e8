"""The bypass decision engine (placeholder: being written)."""

from __future__ import annotations

from cublab.domain.base import Strict


class BypassPolicy(Strict):
    pass
