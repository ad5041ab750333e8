"""Risk classification of proposals (placeholder: being written)."""

from __future__ import annotations

from cublab.domain.base import Strict


class PromotionPolicy(Strict):
    pass
