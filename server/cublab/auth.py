"""Who is calling over HTTP, and what they may reach: token verifiers and the caller's grant.

The MCP SDK does the HTTP part (`BearerAuthBackend`, `RequireAuthMiddleware`: a
missing or refused token is a 401 with `WWW-Authenticate` naming the protected
resource metadata). cublab supplies the `TokenVerifier` the SDK calls:

- `LocalTokens`: tokens made with `cublab tokens create`, looked up by hash in
  the database (`app/tokens.py`);
- `IssuerTokens`: JWT access tokens from an external OAuth 2.1 authorization
  server (`--auth-issuer`), verified with PyJWT against the keys the issuer
  publishes (its metadata's `jwks_uri`), for this server's audience.

Either way the SDK's `AccessToken` carries cublab's grant: `client_id` is the
agent identity everything is recorded as, `scopes` are `cublab:read` and (for a
write token) `cublab:write`, and `claims["cublab_toolsets"]` the toolsets it may
reach (absent: all). `caller_of(request)` reads it back inside a tool.

An issuer's token maps to an identity so (docs/deploying.md):
`sub` that is already an agent identity (`agent:ci-reviewer`… with a session) is
used as is; otherwise the client (`client_id`, else `azp`) and subject become
`agent:<client>-<subject>` (lower-cased; other characters, and any `-` in the
subject, as `.`), so the client is the principal that owns what its subjects
create: client `ci-bot`, subject `build-7` -> `agent:ci-bot-build.7`, owner
`agent:ci-bot`. Scopes come from the
`scope` (or `scp`) claim: `cublab:write` implies read.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from cublab.domain.errors import CublabError
from cublab.domain.identity import Identity, agent_identity

if TYPE_CHECKING:
    from cublab.runtime import Runtime

SCOPE_READ = "cublab:read"
SCOPE_WRITE = "cublab:write"
TOOLSETS_CLAIM = "cublab_toolsets"
_log = logging.getLogger("cublab.auth")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the identity recorded on its writes and what it may reach."""

    identity: Identity
    write: bool
    toolsets: frozenset[str] | None  # None: every toolset

    def may_use(self, toolset: str, read_only: bool) -> bool:
        return (read_only or self.write) and (self.toolsets is None or toolset in self.toolsets)

    def refusal(self, tool: str, toolset: str, read_only: bool) -> str:
        if not (read_only or self.write):
            return f"{tool}: this token has the read scope and {tool} changes things; ask a human for a write token (cublab tokens create --scope write)"
        return f"{tool}: this token may use the toolsets {', '.join(sorted(self.toolsets or ()))}, and {tool} is in '{toolset}'"


def caller_of(request: Any) -> Caller | None:
    """The authenticated caller of an HTTP request; None over stdio, in-process, or with --no-auth."""
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    if not isinstance(user, AuthenticatedUser):
        return None
    token = user.access_token
    toolsets = (token.claims or {}).get(TOOLSETS_CLAIM)
    return Caller(
        identity=Identity("agent", token.client_id),  # verified by the verifier that made it
        write=SCOPE_WRITE in token.scopes,
        toolsets=frozenset(toolsets) if toolsets else None,
    )


def _scopes(write: bool) -> list[str]:
    return [SCOPE_READ, SCOPE_WRITE] if write else [SCOPE_READ]


class LocalTokens:
    """The SDK's TokenVerifier over `cublab tokens`: every request reads the token's row, so a revocation or an
    expiry takes effect on the next request (a primary-key lookup; bench/auth.py measures the cost)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._inline: bool | None = None  # known after the first request

    def _verify(self, token: str) -> AccessToken | None:
        grant = self.runtime.tokens.verify(token)
        if grant is None:
            return None
        return AccessToken(
            token=token,
            client_id=grant.agent,
            scopes=_scopes(grant.scope == "write"),
            expires_at=int(grant.expires_at.timestamp()) if grant.expires_at else None,
            subject=grant.agent,
            claims={TOOLSETS_CLAIM: list(grant.toolsets)} if grant.toolsets else None,
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        """On SQLite the lookup runs on the event loop: a read of one row by a unique index (tens of
        microseconds; WAL readers never wait for writers) costs less than the hop to a worker thread, which
        dominated the cost of authentication (bench/auth.py). A server database (PostgreSQL) is a network round
        trip away and is read on a worker thread. The first call, which may build the application and migrate,
        runs on a worker thread either way."""
        if self._inline is None:
            self._inline = await anyio.to_thread.run_sync(lambda: self.runtime.ctx.db.is_sqlite)
        if self._inline:
            return self._verify(token)
        return await anyio.to_thread.run_sync(self._verify, token)


_SLUG = re.compile(r"[^a-z0-9._]+")
_CLIENT_SLUG = re.compile(r"[^a-z0-9._-]+")


def _slug(text: str, pattern: re.Pattern[str] = _SLUG) -> str:
    return pattern.sub(".", text.strip().lower()).strip("._-")[:80]


def issuer_identity(claims: dict[str, Any]) -> Identity | None:
    """The agent identity of an issuer's token (see the module docstring), or None when it names nobody usable."""
    subject = str(claims.get("sub") or "")
    if subject.startswith("agent:"):
        try:
            return agent_identity(subject, "sub")
        except CublabError:
            return None
    client = _slug(str(claims.get("client_id") or claims.get("azp") or ""), _CLIENT_SLUG)
    who = _slug(subject)
    if not client and not who:
        return None
    try:
        return agent_identity(f"agent:{client or who}-{who or 'oauth'}", "sub")
    except CublabError:
        return None


class IssuerTokens:
    """JWT access tokens of an external OAuth 2.1 authorization server, verified with PyJWT.

    The issuer's metadata (RFC 8414 `/.well-known/oauth-authorization-server`, else OpenID
    `/.well-known/openid-configuration`) names its `jwks_uri`; PyJWT's `PyJWKClient` fetches and
    caches the keys (and fetches again for an unknown `kid`, so key rotation works). A token must be
    signed by one of them with an asymmetric algorithm, name this issuer (`iss`) and this server
    (`aud`), and be unexpired (`exp` required).
    """

    ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

    def __init__(self, issuer: str, audience: str, *, leeway: float = 30.0, timeout: float = 5.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.leeway = leeway
        self.timeout = timeout
        self._jwks: Any = None

    def _keys(self) -> Any:
        if self._jwks is None:
            import httpx
            from jwt import PyJWKClient

            metadata: dict[str, Any] | None = None
            for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
                response = httpx.get(self.issuer + path, timeout=self.timeout)
                if response.status_code == 200:
                    metadata = response.json()
                    break
            if metadata is None or not metadata.get("jwks_uri"):
                raise RuntimeError(f"{self.issuer} publishes no authorization server metadata with a jwks_uri")
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                raise RuntimeError(f"{self.issuer}: its metadata names another issuer ({metadata.get('issuer')!r})")
            self._jwks = PyJWKClient(
                str(metadata["jwks_uri"]), cache_keys=True, lifespan=3600, timeout=int(self.timeout)
            )
        return self._jwks

    def _verify(self, token: str) -> AccessToken | None:
        import jwt

        try:
            key = self._keys().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(self.ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:  # the reason goes to the log, never the token
            _log.info("issuer token refused: %s", type(exc).__name__)
            return None
        except Exception as exc:  # the issuer unreachable: refuse, say why in the log
            _log.warning("issuer %s: cannot verify tokens: %s", self.issuer, exc)
            return None
        identity = issuer_identity(claims)
        if identity is None:
            _log.info("issuer token refused: its sub/client_id name no usable agent identity")
            return None
        raw = claims.get("scope", claims.get("scp", ""))
        scopes = set(raw.split() if isinstance(raw, str) else raw or [])
        if not scopes & {SCOPE_READ, SCOPE_WRITE}:
            return AccessToken(token=token, client_id=identity.value, scopes=[], expires_at=int(claims["exp"]))
        toolsets = claims.get(TOOLSETS_CLAIM)
        return AccessToken(
            token=token,
            client_id=identity.value,
            scopes=_scopes(SCOPE_WRITE in scopes),
            expires_at=int(claims["exp"]),
            subject=str(claims.get("sub") or "") or None,
            resource=self.audience,
            claims={"iss": self.issuer, **({TOOLSETS_CLAIM: list(toolsets)} if isinstance(toolsets, list) else {})},
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        return await anyio.to_thread.run_sync(self._verify, token)


class ToolAccess:
    """The SDK's context-tier middleware (`MCPServer(middleware=...)`) that leaves out of `tools/list` the tools
    the caller's token may not use (the tool itself refuses such a call: `mcp_server._identity`).

    Without an authenticated caller (stdio, in-process, `--no-auth`) it changes nothing: what the server offers
    at all is narrowed when it is built (`cublab serve --toolsets`, `--read-only`).
    """

    def __init__(self, tools: dict[str, tuple[str, bool]]) -> None:
        self.tools = tools  # name -> (toolset, read_only)

    def _allowed(self, caller: Caller, name: str) -> bool:
        spec = self.tools.get(name)
        return spec is None or caller.may_use(*spec)

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        if ctx.method != "tools/list":
            return result
        caller = caller_of(ctx.request)
        if caller is not None and isinstance(result, dict) and isinstance(result.get("tools"), list):
            result["tools"] = [t for t in result["tools"] if self._allowed(caller, t.get("name"))]
        return result
