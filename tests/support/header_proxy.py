"""A reverse proxy that adds headers to every request, for clients that cannot send them.

The MCP conformance suite's client cannot send an `Authorization` header, so its server scenarios reach an
authenticated `cublab serve --http` through this proxy. Responses are streamed through unchanged (chunk by
chunk), because the streamable HTTP transport answers with server-sent events that stay open.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

# Hop-by-hop headers (RFC 9110 7.6.1) and ones the two HTTP stacks set themselves.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


@dataclass(frozen=True)
class Exchange:
    """One forwarded request as the upstream saw it, and its answer's status."""

    method: str
    path: str
    authorized: bool  # an Authorization header reached the upstream
    status: int
    www_authenticate: str | None


def proxy_app(upstream: str, headers: dict[str, str], seen: list[Exchange]) -> Starlette:
    """Forward every request to `upstream` (scheme://host:port) with `headers` added (replacing the client's),
    appending each exchange to `seen`."""
    client = httpx2.AsyncClient(base_url=upstream, timeout=httpx2.Timeout(30.0, read=None))

    async def forward(request: Request) -> StreamingResponse:
        sent = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        sent = {k: v for k, v in sent.items() if k.lower() not in {h.lower() for h in headers}}
        # Host and Origin pass through unchanged, so cublab's DNS-rebinding checks judge what the client sent.
        outgoing = client.build_request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers={**sent, **headers},
            content=await request.body(),
        )
        response = await client.send(outgoing, stream=True)
        seen.append(
            Exchange(
                request.method,
                request.url.path,
                "authorization" in outgoing.headers,
                response.status_code,
                response.headers.get("www-authenticate"),
            )
        )
        passed = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}

        async def body() -> AsyncIterator[bytes]:
            async for chunk in response.aiter_raw():
                yield chunk

        return StreamingResponse(
            body(), status_code=response.status_code, headers=passed, background=BackgroundTask(response.aclose)
        )

    methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)


@contextmanager
def header_proxy(upstream: str, headers: dict[str, str]) -> Iterator[tuple[str, list[Exchange]]]:
    """Run the proxy on a free loopback port until the block ends; yields its base URL and the exchanges so far."""
    seen: list[Exchange] = []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        proxy_app(upstream, headers, seen), host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the header proxy did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.should_exit = True
        thread.join(5)
