"""Expiry applies on read: a sandbox or an open proposal past its time reads as expired
before a reaper persists it, and an open obligation past its deadline reads as overdue.

Each rule is written twice, once for a row in hand and once as the SQL condition a
listing filters on, side by side here so the two cannot drift: a list shows exactly
the rows a read of each would show.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col

from cublab.domain.proposals import OPEN_STATES, effective_state
from cublab.domain.states import ObligationStatus
from cublab.store.tables import Obligation, Proposal, Sandbox, table_of

# ---- sandboxes ---------------------------------------------------------------------------------


def sandbox_status(status: str, expires_at: datetime, now: datetime) -> str:
    if status == "active" and expires_at <= now:
        return "expired"
    return status


_sandboxes = table_of(Sandbox)  # the table's columns, not the model's: `sandbox_list` filters without the ORM


def sandbox_lapsed(now: datetime) -> ColumnElement[bool]:
    """Active in the table, expired on read: what `cublab sandboxes reap` persists."""
    return and_(_sandboxes.c.status == "active", _sandboxes.c.expires_at <= now)


def sandbox_status_is(status: str, now: datetime) -> ColumnElement[bool]:
    if status == "active":
        return and_(_sandboxes.c.status == "active", _sandboxes.c.expires_at > now)
    if status == "expired":
        return or_(_sandboxes.c.status == "expired", sandbox_lapsed(now))
    return _sandboxes.c.status == status


# ---- proposals (the rule itself is the domain's: domain/proposals.py) ---------------------------


def proposal_state(state: str, expires_at: datetime, now: datetime) -> str:
    return effective_state(state, expires_at, now)


def proposal_lapsed(now: datetime) -> ColumnElement[bool]:
    """Open in the table, expired on read: what `cublab proposals reap` persists."""
    return and_(col(Proposal.state).in_(OPEN_STATES), col(Proposal.expires_at) <= now)


def proposal_state_is(state: str, now: datetime) -> ColumnElement[bool]:
    if state == "expired":
        return or_(col(Proposal.state) == "expired", proposal_lapsed(now))
    if state in OPEN_STATES:
        return and_(col(Proposal.state) == state, col(Proposal.expires_at) > now)
    return col(Proposal.state) == state


# ---- break-glass obligations ------------------------------------------------------------------


def obligation_status(status: ObligationStatus, due_at: datetime, now: datetime) -> ObligationStatus:
    if status == ObligationStatus.OPEN and due_at <= now:
        return ObligationStatus.OVERDUE
    return status


def obligation_past_due(now: datetime) -> ColumnElement[bool]:
    return and_(col(Obligation.status) == "open", col(Obligation.due_at) <= now)
