"""What waits on a human, and when it is due: the inbox's order.

Presentation only: the moments come from each proposal's stored requirement
(domain/proposals.py decides what they mean). A LOW proposal's objection window
closing, a MEDIUM acknowledgment window (and the moment it is treated as HIGH),
a HIGH proposal's expiry: the nearest comes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cublab.app.outputs import ProposalView


@dataclass(frozen=True)
class Timer:
    label: str
    at: datetime
    deadline: bool = True  # False: a moment since which something holds (approved, ready to apply)


@dataclass(frozen=True)
class Waiting:
    proposal: ProposalView
    timers: list[Timer]

    @property
    def due(self) -> Timer:
        """The earliest moment: one already passed (overdue, or ready to apply) sorts first."""
        return self.timers[0]


def timers(view: ProposalView) -> list[Timer]:
    """The moments that matter for a proposal, earliest first."""
    req, created = view.requirement, view.created_at
    if view.state == "approved":  # decided: only applying (or expiry) is left
        return [Timer("approved: ready to apply", created, deadline=False), Timer("expires", view.expires_at)]
    found = []
    if req.kind == "objection_window" and req.window_seconds is not None:
        found.append(Timer("objection window closes", created + timedelta(seconds=req.window_seconds)))
    if req.kind == "acknowledgment":
        if req.window_seconds is not None:
            found.append(Timer("acknowledgment due", created + timedelta(seconds=req.window_seconds)))
        if req.as_high_after_seconds is not None:
            found.append(Timer("treated as HIGH", created + timedelta(seconds=req.as_high_after_seconds)))
    found.append(Timer("expires", view.expires_at))
    return sorted(found, key=lambda t: t.at)


def waiting_order(views: list[ProposalView]) -> list[Waiting]:
    """Open proposals, what is due first at the top."""
    rows = [Waiting(v, timers(v)) for v in views]
    return sorted(rows, key=lambda w: (w.due.at, w.proposal.id))
