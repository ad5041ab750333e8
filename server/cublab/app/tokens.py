"""Bearer tokens for the shared HTTP server: one per agent, made and revoked by humans.

A token is `cublab_` followed by 256 random bits (`secrets.token_urlsafe(32)`). It is
printed once, when a human creates it, and never stored: the database keeps its
SHA-256, which is what a presented token is looked up by. A token this random
cannot be guessed from its hash, so no slow hash is needed, and looking a token up
by its hash leaks nothing through timing about any stored token; the final
comparison is `hmac.compare_digest` all the same. The `cublab_` prefix makes a
pasted token recognisable: the secret gate refuses it in any stored field
(`domain/secrets.py`, kind `cublab-token`), and a log or error message never
carries one.

A token names one agent identity (`agent:<type>-<name>`): everything done with it
is recorded as that agent. Its scope is `read` (read-only tools) or `write` (every
tool it may reach), optionally narrowed to some toolsets, and it expires (default
90 days). Creation and revocation are human decisions, recorded in the audit log
with the token's id, never its value.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import select

from cublab.app.context import AppContext
from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from cublab.domain.identity import Identity
from cublab.domain.ids import is_id_of, new_id
from cublab.store.db import select_one
from cublab.store.tables import AgentToken, table_of

TOKEN_PREFIX = "cublab_"
_TOKEN_BYTES = 32
_TOKEN_LENGTH = len(TOKEN_PREFIX) + 43  # token_urlsafe(32) is 43 characters
DEFAULT_EXPIRY = timedelta(days=90)
Scope = Literal["read", "write"]
SCOPES: tuple[Scope, ...] = ("read", "write")
TOOLSETS = ("sandboxes", "experiments", "promotion", "policy", "breakglass")
"""The toolsets the MCP server's tools belong to (each ToolSpec names one; a test keeps them equal)."""

_tokens = table_of(AgentToken)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(text: str) -> bool:
    """The shape of a cublab token (checked before any database read)."""
    return len(text) == _TOKEN_LENGTH and text.startswith(TOKEN_PREFIX) and text.isascii()


def check_toolsets(names: list[str] | None, field: str = "toolsets") -> tuple[str, ...] | None:
    """Known toolset names, deduplicated in the documented order; None (or empty) means all."""
    if not names:
        return None
    wanted = {n.strip().lower() for part in names for n in part.split(",") if n.strip()}
    unknown = sorted(wanted - set(TOOLSETS))
    if unknown:
        raise InvalidInput(f"{field}: unknown toolset(s) {', '.join(unknown)}; choose from {', '.join(TOOLSETS)}")
    return tuple(t for t in TOOLSETS if t in wanted) or None


@dataclass(frozen=True)
class Grant:
    """What a presented, valid token allows: who it acts as, with which scope and toolsets, until when."""

    token_id: str
    agent: str
    scope: Scope
    toolsets: tuple[str, ...] | None
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    id: str
    agent: str
    scope: str
    toolsets: tuple[str, ...] | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_by: str | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; never stored
    info: TokenInfo


def _info(row: AgentToken | dict[str, Any]) -> TokenInfo:
    values: dict[str, Any] = row if isinstance(row, dict) else row.model_dump()
    toolsets = values.get("toolsets")
    return TokenInfo(
        id=values["id"],
        agent=values["agent"],
        scope=values["scope"],
        toolsets=tuple(toolsets) if toolsets else None,
        created_by=values["created_by"],
        created_at=values["created_at"],
        expires_at=values.get("expires_at"),
        revoked_by=values.get("revoked_by"),
        revoked_at=values.get("revoked_at"),
    )


def _require_human(who: Identity, what: str) -> None:
    if not who.is_human:
        raise Forbidden(f"as: tokens are {what} by humans; {who} is not 'human:<name>'")


class Tokens:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def create(
        self,
        agent: Identity,
        who: Identity,
        scope: str = "write",
        expires: str | None = None,
        toolsets: list[str] | None = None,
    ) -> IssuedToken:
        """A new token for `agent`; its value is returned here and nowhere else."""
        _require_human(who, "issued")
        if not agent.is_agent:
            raise Forbidden(f"agent: tokens act for agents; {agent} is not 'agent:<type>-<name>'")
        if scope not in SCOPES:
            raise InvalidInput(f"scope: {scope!r} is neither 'read' nor 'write'")
        sets = check_toolsets(toolsets)
        now = self.ctx.clock()
        lifetime = (
            None
            if (expires or "").strip().lower() == "never"
            else parse_duration(expires, "expires")
            if expires
            else DEFAULT_EXPIRY
        )
        token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
        row = AgentToken(
            id=new_id("token"),
            token_hash=token_hash(token),
            agent=agent.value,
            scope=scope,
            toolsets=list(sets) if sets else None,
            created_by=who.value,
            created_at=now,
            expires_at=now + lifetime if lifetime is not None else None,
        )
        with self.ctx.db.write() as session:
            session.add(row)
            self.ctx.record(
                session,
                who,
                "token.create",
                "token",
                row.id,
                details={
                    "agent": agent.value,
                    "scope": scope,
                    "toolsets": list(sets) if sets else "all",
                    "expires": format_duration(lifetime) if lifetime is not None else "never",
                },
            )
        return IssuedToken(token, _info(row))

    def list(self, include_inactive: bool = False) -> list[TokenInfo]:
        with self.ctx.db.read() as session:
            rows = [_info(r) for r in session.exec(select(AgentToken).order_by(AgentToken.id.desc()))]  # type: ignore[attr-defined]
        now = self.ctx.clock()
        return [t for t in rows if include_inactive or t.status(now) == "active"]

    def revoke(self, token_id: str, who: Identity) -> TokenInfo:
        """Revoke a token now: the next request presenting it is refused (there is no cache to wait for)."""
        _require_human(who, "revoked")
        if not is_id_of("token", token_id):
            raise InvalidInput(f"token: {token_id[:60]!r} is not a token id (tok_…); `cublab tokens list` shows them")
        with self.ctx.db.write() as session:
            row = session.get(AgentToken, token_id)
            if row is None:
                raise NotFound(f"token: no token {token_id}")
            if row.revoked_at is not None:
                raise Conflict(
                    f"token: {token_id} was already revoked by {row.revoked_by} at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
                )
            row.revoked_at = self.ctx.clock()
            row.revoked_by = who.value
            session.add(row)
            self.ctx.record(session, who, "token.revoke", "token", token_id, details={"agent": row.agent})
        return _info(row)

    def verify(self, token: str) -> Grant | None:
        """The grant of a presented token, or None when it is malformed, unknown, revoked or expired.

        Never raises for a bad token and never says which of those it was: the caller answers 401 either way.
        """
        if not looks_like_token(token):
            return None
        digest = token_hash(token)
        row = select_one(self.ctx.db.engine, _tokens, "token_hash", digest)
        if row is None or not hmac.compare_digest(str(row["token_hash"]), digest):
            return None
        info = _info(row)
        if info.status(self.ctx.clock()) != "active":
            return None
        return Grant(info.id, info.agent, "read" if info.scope == "read" else "write", info.toolsets, info.expires_at)
