"""The human CLI: serve the MCP server, run the demo, check the audit log, reap sandboxes.

Human decisions live here and never in the MCP server: agents propose, humans decide.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cublab.config import Settings
from cublab.domain.errors import CublabError

app = typer.Typer(help="cublab: agents experiment beside the configuration authority; humans decide what enters it.", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
sandboxes_app = typer.Typer(help="Sandboxes (test environments) recorded by agents.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(sandboxes_app, name="sandboxes")

Db = Annotated[str | None, typer.Option("--db", help="SQLite file or SQLAlchemy URL [env: CUBLAB_DB; default: the user data directory]")]
Policy = Annotated[str | None, typer.Option("--policy", help="Policy file [env: CUBLAB_POLICY; default: the built-in seed policy]")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _runtime(db: str | None, policy: str | None = None):
    from cublab.runtime import Runtime

    try:
        return Runtime(Settings.resolve(db=db, agent="agent:cublab-cli", policy=policy))
    except CublabError as exc:
        _fail(str(exc))


@app.command()
def serve(
    db: Db = None,
    policy: Policy = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Identity of the agent this server acts for, agent:<type>-<session> [env: CUBLAB_AGENT]")] = None,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio")] = False,
    host: Annotated[str, typer.Option(help="HTTP bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8765,
) -> None:
    """Run the MCP server (stdio by default; nothing but protocol on stdout)."""
    from cublab.mcp_server import build_server
    from cublab.runtime import Runtime

    try:
        runtime = Runtime(Settings.resolve(db=db, agent=agent, policy=policy))
    except CublabError as exc:
        _fail(str(exc))
    server = build_server(runtime)
    try:
        if http:
            print(f"cublab: serving MCP over streamable HTTP at http://{host}:{port}/mcp", file=sys.stderr)
            server.run("streamable-http", host=host, port=port)
        else:
            server.run("stdio")
    finally:
        runtime.close()


@app.command()
def demo(db: Db = None) -> None:
    """Drive a real cublab server over stdio through the governed workflow, as an agent would."""
    from cublab.demo import run_demo

    run_demo(Settings.resolve(db=db, agent="agent:cublab-demo").db)


@audit_app.command("verify")
def audit_verify(db: Db = None) -> None:
    """Check the audit chain; name every event that was edited or deleted."""
    from cublab.store import audit

    runtime = _runtime(db)
    with runtime.ctx.db.engine.connect() as conn:
        result = audit.verify(conn)
    if result.ok:
        typer.echo(f"audit log OK: {result.events} events, chain intact ({runtime.ctx.db.location})")
        return
    typer.secho(f"audit log BROKEN: {len(result.problems)} problem(s) in {result.events} events", fg=typer.colors.RED, err=True)
    for problem in result.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


@sandboxes_app.command("reap")
def sandboxes_reap(db: Db = None) -> None:
    """Mark every sandbox past its expiry as expired (one audit event each)."""
    from cublab.domain.identity import SYSTEM

    runtime = _runtime(db)
    reaped = runtime.ledger.reap_sandboxes(SYSTEM)
    typer.echo(f"expired {len(reaped)} sandbox(es)" + (": " + ", ".join(reaped) if reaped else ""))


@sandboxes_app.command("list")
def sandboxes_list(
    db: Db = None,
    status: Annotated[str | None, typer.Option(help="active, destroyed or expired")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 50,
) -> None:
    """List sandboxes, newest first."""
    from rich.console import Console
    from rich.table import Table

    from cublab.app.inputs import ListSandboxes

    runtime = _runtime(db)
    try:
        page = runtime.ledger.list_sandboxes(ListSandboxes(status=status, limit=limit))
    except (CublabError, ValueError) as exc:
        _fail(str(exc))
    table = Table("id", "name", "status", "owner", "expires_at")
    for s in page.sandboxes:
        table.add_row(s.id, s.name, s.status, s.owner, s.expires_at.isoformat(timespec="seconds"))
    Console().print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
