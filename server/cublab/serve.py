"""`cublab serve`: run the MCP server, for the typer CLI (`cli.serve`) and the console entry point's fast path
(`launcher.main`) alike.

It imports nothing it does not need before the server answers `tools/list`: not the CLI framework,
not SQLAlchemy (the first tool call builds the application: runtime.py), and not the policy unless a
policy file is named. The built-in policy ships with cublab and is checked by its tests; a named file is
read here, so a bad one stops the server before it serves.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from cublab.config import Settings
from cublab.domain.errors import CublabError

if TYPE_CHECKING:
    from cublab.runtime import Runtime

T = TypeVar("T")


class Refused(Exception):
    """A setting that stops `serve` before it starts; the message names it (the CLI exits 2)."""


def serve(
    *,
    db: str | None = None,
    policy: str | None = None,
    agent: str | None = None,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
    no_auth: bool = False,
    auth_issuer: str | None = None,
    auth_audience: str | None = None,
    public_url: str | None = None,
    allowed_host: list[str] | None = None,
    allowed_origin: list[str] | None = None,
    toolsets: list[str] | None = None,
    read_only: bool = False,
    authority: str | None = None,
    confighub_mode: str | None = None,
    in_place_confirmed: bool = False,
    log_format: str = "",
    console: Any = None,
) -> None:
    """Run the MCP server (stdio by default; nothing but protocol on stdout). `console`: the review console's
    authentication (cli.py builds it for `--ui`), mounted at /ui beside /mcp."""
    with _collector_paused() as resume:
        log_format = (log_format or os.environ.get("CUBLAB_LOG_FORMAT", "text")).lower()
        if log_format not in ("text", "json"):
            raise Refused(f"--log-format: {log_format!r} is neither 'text' nor 'json'")
        from cublab.runtime import Runtime

        try:  # check the identity, the policy and the authority's settings before importing the MCP SDK, so a refusal is immediate
            runtime = Runtime(
                Settings.resolve(
                    db=db,
                    agent=agent,
                    policy=policy,
                    authority=authority,
                    confighub_mode=confighub_mode,
                    in_place_confirmed=in_place_confirmed,
                )
            )
            if runtime.settings.policy_path:
                _ = runtime.policy  # a bad file must stop start-up, not the first tool call
            offered = None  # every toolset; app.tokens (and with it SQLAlchemy) is imported only to check a choice
            if toolsets:
                from cublab.app.tokens import check_toolsets

                offered = check_toolsets(toolsets, "--toolsets")
            from cublab.httpserver import HttpOptions

            options = HttpOptions(
                host=host,
                port=port,
                no_auth=no_auth,
                auth_issuer=auth_issuer,
                auth_audience=auth_audience,
                public_url=public_url,
                allowed_hosts=tuple(allowed_host or ()),
                allowed_origins=tuple(allowed_origin or ()),
            )
            if http:
                options.check()
            elif no_auth or auth_issuer:
                raise Refused("--no-auth and --auth-issuer apply to --http; stdio serves the one agent that started it")
        except CublabError as exc:
            raise Refused(str(exc)) from None
        from cublab.httpserver import auth_settings
        from cublab.mcp_server import build_server

        server = build_server(
            runtime,
            log_format="json" if log_format == "json" else "text",
            toolsets=offered,
            read_only=read_only,
            **(auth_settings(runtime, options) if http else {}),
        )
        threading.Thread(target=_warm_up, args=(runtime, resume), name="cublab-warm-up", daemon=True).start()
    stop_flusher = (
        runtime.start_outbox_flusher()
    )  # ConfigHub only: delivers queued proposals every CUBLAB_OUTBOX_INTERVAL s
    try:
        if http:
            from cublab.httpserver import serve as serve_http

            mount = None
            if console is not None:
                from cublab.web.serve import MOUNT_PATH, announce
                from cublab.web.serve import mount as mount_console

                _ = runtime.ctx  # migrate and load the audit key before the console's URL is printed
                announce(console, host, port, MOUNT_PATH)

                def mount(app: Any) -> None:
                    mount_console(app, runtime, console)

            serve_http(server, runtime, options, mount=mount)
        else:
            import anyio

            from cublab.stdio import run_stdio  # answers lines the SDK's stdio reader drops (deep nesting)

            anyio.run(run_stdio, server)
    finally:
        stop_flusher()
        runtime.close()


@contextmanager
def _collector_paused() -> Iterator[Callable[[], None]]:
    """Start-up with the cyclic garbage collector paused; yields `resume`, which the warm-up calls once the
    application is built.

    Start-up allocates some 250,000 objects (the MCP SDK, SQLAlchemy, the models), nearly all of them kept
    for the life of the process; the collector would scan them again and again as they pile up, for about
    a seventh of the time to the first tool result, and find next to nothing. `resume` moves what start-up
    made to the collector's permanent generation (`gc.freeze`), so that later collections do not scan it
    either, and the collector runs as before from then on. If start-up fails, the collector resumes here,
    nothing frozen.
    """
    import gc

    if not gc.isenabled():  # paused by whoever called: theirs to resume
        yield lambda: None
        return
    lock = threading.Lock()
    paused = [True]

    def restart(freeze: bool) -> None:
        with lock:
            if paused:
                paused.clear()
                if freeze:
                    gc.freeze()
                gc.enable()

    gc.disable()
    try:
        yield lambda: restart(freeze=True)
    except BaseException:
        restart(freeze=False)
        raise


def _warm_up(runtime: Runtime, resume: Callable[[], None]) -> None:
    """The warm-up thread: build the application (`Runtime.warm_up`), then let the collector run again."""
    try:
        runtime.warm_up()
    finally:
        resume()


def reporting_faults(command: Callable[[], T]) -> T:
    """Run a command; an infrastructure fault is not a bug: say what happened and whether to retry, exit 3."""
    try:
        return command()
    except Exception as exc:
        from cublab.app.faults import classify

        fault = classify(exc)
        if fault is None:
            raise
        from cublab.console import echo

        echo(f"error: {fault}", err=True, style="red")
        raise SystemExit(3) from None
