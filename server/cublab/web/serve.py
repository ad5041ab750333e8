"""Starting the console: the checks that come before a socket opens, and uvicorn.

`cublab ui` serves the console alone; `cublab serve --http --ui` mounts it at
/ui beside the MCP endpoint (`mount`). Either way it refuses to start in an
agent's environment (`CUBLAB_AGENT` set, even empty), and refuses an address
other than loopback unless a trusted reverse proxy names the reader: a login
token travelling over a network in clear is not how a team shares a console.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from starlette.applications import Starlette
from starlette.routing import Mount

from cublab.domain.errors import Forbidden, InvalidInput
from cublab.runtime import Runtime
from cublab.web.app import build_console
from cublab.web.auth import ConsoleAuth, Refused, reader_identity

MOUNT_PATH = "/ui"


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def console_auth(
    *, as_: str | None, user_header: str | None, trusted_proxies: list[str], host: str, os_user: str
) -> ConsoleAuth:
    """The reader's mode from the flags, or InvalidInput/Forbidden naming the flag."""
    if "CUBLAB_AGENT" in os.environ:
        raise Forbidden(
            "CUBLAB_AGENT is set in this environment (even empty, it marks an agent's shell); the review console is "
            "for humans. Run `unset CUBLAB_AGENT` to start it as yourself."
        )
    if user_header:
        if as_:
            raise InvalidInput("--as: behind a trusted proxy the reader's name comes from the proxy's header, not --as")
        if not trusted_proxies:
            raise InvalidInput(
                "--trusted-proxy: --trusted-user-header needs the proxy's address(es), e.g. --trusted-proxy 127.0.0.1"
            )
        try:
            return ConsoleAuth(user_header=user_header, trusted_proxies=trusted_proxies)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    if trusted_proxies:
        raise InvalidInput("--trusted-proxy: only meaningful with --trusted-user-header")
    if not is_loopback(host):
        raise Forbidden(
            f"--host: {host} is not a loopback address; the console's one-time login token is for this machine. "
            "Serve it to a team behind an authenticating reverse proxy: --trusted-user-header X-Forwarded-User "
            "--trusted-proxy <the proxy's address>"
        )
    try:
        who = reader_identity(as_ or f"human:{os_user}", "--as")
    except Refused as refused:  # the same words as the CLI's --as
        raise InvalidInput(refused.message) from None
    return ConsoleAuth(who=who)


def login_url(auth: ConsoleAuth, host: str, port: int, path: str = "") -> str:
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}{path}"
    if auth.login_token is None:
        return f"{base}/ (the reader is named by the proxy's {auth.user_header} header)"
    return f"{base}/login?token={auth.login_token}"


def announce(auth: ConsoleAuth, host: str, port: int, path: str = "") -> None:
    who = f"as {auth.who}" if auth.who else f"as the user the proxy names in {auth.user_header}"
    print(f"cublab console: decisions are made {who}", file=sys.stderr)
    print(f"cublab console: open {login_url(auth, host, port, path)}", flush=True)
    if auth.login_token:
        print("cublab console: the token works once; it becomes a session cookie for this browser", file=sys.stderr)


def run_console(runtime: Runtime, auth: ConsoleAuth, host: str, port: int) -> None:
    import uvicorn

    app = build_console(runtime, auth)
    announce(auth, host, port)
    # proxy_headers off: the trusted-proxy check reads the real peer, never a forwarded-for header
    uvicorn.run(app, host=host, port=port, proxy_headers=False, server_header=False, log_level="warning")


def mount(app: Starlette, runtime: Runtime, auth: ConsoleAuth) -> None:
    """Mount the console at /ui in an existing app (the MCP server's), with its own auth, ahead of its routes."""
    app.router.routes.insert(0, Mount(MOUNT_PATH, app=build_console(runtime, auth)))
