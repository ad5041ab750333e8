"""The shared HTTP server: the SDK's streamable HTTP app with authentication, Host/Origin checks and a rate limit.

What is checked, outermost first, on every request to `/mcp`:

1. Host and Origin (the SDK's `TransportSecuritySettings`, DNS-rebinding protection): always on; the loopback
   names, the bind address and `--allowed-host`/`--allowed-origin` (a deployment behind a proxy) are allowed.
2. The bearer token (the SDK's `BearerAuthBackend` + `RequireAuthMiddleware` over cublab's verifier,
   cublab/auth.py): none, or one refused, is a 401 with `WWW-Authenticate` pointing at the protected resource
   metadata (`/.well-known/oauth-protected-resource/mcp`); a token without `cublab:read` is a 403.
3. The caller's request rate (`RateLimit`, a token bucket per identity): over it, a 429 with `Retry-After`.

Unauthenticated HTTP (`--no-auth`) is allowed on a loopback address only, and says so on start. `/healthz`
stays open (orchestrators probe it; it says nothing about the ledger's contents) and is not rate limited.
"""

from __future__ import annotations

import ipaddress
import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cublab.domain.errors import InvalidInput

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Receive, Scope, Send

    from cublab.mcp_server import CublabServer
    from cublab.runtime import Runtime

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    no_auth: bool = False
    auth_issuer: str | None = None  # an external OAuth 2.1 authorization server; None: `cublab tokens`
    auth_audience: str | None = None  # what its tokens' `aud` must be; default: the public URL
    public_url: str | None = None  # the URL clients use (behind a proxy); default http://<host>:<port>/mcp
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> None:
        """Refuse a configuration that would expose an unauthenticated ledger, before anything starts."""
        if self.no_auth and self.auth_issuer:
            raise InvalidInput("--no-auth and --auth-issuer contradict each other; choose one")
        if self.no_auth and not is_loopback(self.host):
            raise InvalidInput(
                f"--host {self.host}: unauthenticated HTTP (--no-auth) is served on a loopback address only "
                "(127.0.0.1, ::1, localhost); anyone who reaches another address could write as any agent. "
                "Drop --no-auth and give each agent a token (cublab tokens create), or use --auth-issuer."
            )
        for url, flag in ((self.public_url, "--public-url"), (self.auth_issuer, "--auth-issuer")):
            if url is not None and urlsplit(url).scheme not in ("http", "https"):
                raise InvalidInput(f"{flag}: {url!r} is not an http(s) URL")

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/mcp"


def auth_settings(runtime: Runtime, options: HttpOptions) -> dict[str, Any]:
    """`MCPServer`'s `token_verifier=` and `auth=`: cublab's own tokens, or an issuer's JWTs; {} with --no-auth."""
    if options.no_auth:
        return {}
    from mcp.server.auth.settings import AuthSettings

    from cublab.auth import SCOPE_READ, IssuerTokens, LocalTokens

    resource = options.url
    if options.auth_issuer:
        verifier: Any = IssuerTokens(options.auth_issuer, options.auth_audience or resource)
        issuer = options.auth_issuer
    else:
        verifier = LocalTokens(runtime)
        parts = urlsplit(resource)
        issuer = f"{parts.scheme}://{parts.netloc}"  # cublab issues its own tokens (with the CLI, not OAuth)
    settings = AuthSettings(
        issuer_url=issuer,  # pydantic parses the URL
        resource_server_url=resource,
        required_scopes=[SCOPE_READ],
        validate_token_resource=False,  # the verifiers check the audience themselves
    )
    return {"token_verifier": verifier, "auth": settings}


def transport_security(options: HttpOptions) -> TransportSecuritySettings:
    """Host/Origin checks, always on: the loopback names, the bound address, the public URL's host, and
    whatever --allowed-host/--allowed-origin add (`name:*` allows any port)."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if options.host not in ("0.0.0.0", "::") and not is_loopback(options.host):
        bound = f"[{options.host}]" if ":" in options.host else options.host
        hosts += [bound, f"{bound}:*"]
        origins += [f"http://{bound}:*", f"https://{bound}:*"]
    if options.public_url:
        parts = urlsplit(options.public_url)
        hosts.append(parts.netloc)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    hosts += options.allowed_hosts
    origins += options.allowed_origins
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class RateLimit:
    """A token bucket per caller (the authenticated identity; the client address without one).

    `per_minute` requests refill evenly; up to `burst` may come at once. Over it, the request is answered
    429 with `Retry-After` (whole seconds until one request is allowed again) and goes no further.
    """

    MAX_CALLERS = 10_000  # buckets kept; the least recently seen are dropped first

    def __init__(self, app: ASGIApp, per_minute: int, burst: int, clock: Any = time.monotonic) -> None:
        self.app = app
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.lock = threading.Lock()

    def _take(self, key: str) -> float:
        """0 when a request may go ahead now; else the seconds until it may."""
        now = self.clock()
        with self.lock:
            tokens, at = self.buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self.buckets[key] = (tokens, now)
            while len(self.buckets) > self.MAX_CALLERS:
                self.buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

        user = scope.get("user")
        client = scope.get("client")
        key = (
            f"id:{user.access_token.client_id}"
            if isinstance(user, AuthenticatedUser)
            else f"ip:{client[0] if client else '?'}"
        )
        wait = self._take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        retry = max(1, math.ceil(wait))
        response = JSONResponse(
            {
                "error": "rate_limited",
                "error_description": f"over {self.rate * 60:g} requests a minute; retry in {retry}s",
            },
            status_code=429,
            headers={"Retry-After": str(retry)},
        )
        await response(scope, receive, send)


def http_app(server: CublabServer, runtime: Runtime, options: HttpOptions) -> Any:
    """The Starlette app `cublab serve --http` runs: the SDK's, with the rate limit inside its authentication
    (so it sees who is calling) and outside the MCP endpoint."""
    from starlette.middleware import Middleware

    quotas = runtime.policy.policy.quotas
    app = server.streamable_http_app(host=options.host, transport_security=transport_security(options))
    if quotas.requests_per_minute > 0:
        # Innermost user middleware: after the SDK's AuthenticationMiddleware has set scope["user"].
        app.user_middleware.append(
            Middleware(RateLimit, per_minute=quotas.requests_per_minute, burst=quotas.request_burst)
        )
    return app


def serve(
    server: CublabServer, runtime: Runtime, options: HttpOptions, mount: Callable[[Any], None] | None = None
) -> None:
    """Run the app; `mount` adds routes beside /mcp first (the review console at /ui, with its own auth)."""
    import uvicorn

    if options.no_auth:
        print(
            "cublab: WARNING: --no-auth: HTTP callers are not authenticated; anyone who reaches this port acts as "
            "any agent (X-Cublab-Agent). For a shared server, give each agent a token: cublab tokens create",
            file=sys.stderr,
        )
    if options.host in ("0.0.0.0", "::") and not (options.public_url or options.allowed_hosts):
        print(
            f"cublab: note: bound to {options.host}, but only loopback Host headers are allowed; give the name "
            "clients use with --public-url https://name/mcp or --allowed-host name:* (docs/deploying.md)",
            file=sys.stderr,
        )
    app = http_app(server, runtime, options)
    if mount is not None:
        mount(app)
    how = (
        "without authentication"
        if options.no_auth
        else f"tokens from {options.auth_issuer}"
        if options.auth_issuer
        else "cublab tokens"
    )
    print(f"cublab: serving MCP over streamable HTTP at {options.url} ({how})", file=sys.stderr)
    # With the console mounted, its trusted-proxy check reads the real peer, never a forwarded-for header.
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        log_level=server.settings.log_level.lower(),
        proxy_headers=mount is None,
    )
