"""How a remote authority fails, sorted by what cublab may do about it.

The split decides the outbox's behaviour: `AuthorityUnavailable` (refused
connection, timeout, 5xx) is transient, so the proposal waits in the outbox and
is retried; `AuthorityAuthFailed` (401/403) will fail the same way until an
operator fixes the token or the space permissions, so it is held, never
retried blindly; `AuthorityStale` (409 on a stale Version) makes the proposal
stale; `AuthorityRejected` is any other 4xx: a request ConfigHub will never
accept as sent, held for an operator.
"""

from __future__ import annotations

from cublab.domain.errors import Conflict, Forbidden


class AuthorityUnavailable(Conflict):
    """The authority could not be reached or failed on its side (transient)."""


class AuthorityAuthFailed(Forbidden):
    """The authority refused our credentials (401) or our permissions (403)."""


class AuthorityStale(Conflict):
    """The authority refused an update made against a stale Version (409)."""


class AuthorityRejected(Conflict):
    """The authority refused the request as malformed or impossible (other 4xx)."""
