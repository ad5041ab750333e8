"""The human CLI: serve the MCP server, run the demo, check the audit log, reap sandboxes.

Human decisions live here and never in the MCP server: agents propose, humans decide.
Everything printed goes through `cublab.console`: text an agent wrote is shown as data,
never interpreted as markup or acted on by the terminal.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from cublab.config import Settings
from cublab.domain.errors import CublabError

if TYPE_CHECKING:
    from datetime import datetime

    from cublab.app.outputs import ProposalDocument
    from cublab.app.read_models import ExperimentDetail, RevisionSummary
    from cublab.domain.identity import Identity
    from cublab.runtime import Runtime
    from cublab.web.auth import ConsoleAuth

app = typer.Typer(
    help="cublab: agents experiment beside the configuration authority; humans decide what enters it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback never dumps the data a command held
)
audit_app = typer.Typer(
    help="The audit log: hash-chained, authenticated with a key kept outside the database.", no_args_is_help=True
)
sandboxes_app = typer.Typer(help="Sandboxes (test environments) recorded by agents.", no_args_is_help=True)
proposals_app = typer.Typer(
    help="Proposals: review, approve, acknowledge, reject, apply (humans only).", no_args_is_help=True
)
authority_app = typer.Typer(help="The embedded authority: import, show and diff units.", no_args_is_help=True)
policy_app = typer.Typer(help="The bypass and promotion policy in force.", no_args_is_help=True)
decisions_app = typer.Typer(help="The bypass decision log (every bypass_check answer).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(decisions_app, name="decisions")
app.add_typer(audit_app, name="audit")
app.add_typer(sandboxes_app, name="sandboxes")
app.add_typer(proposals_app, name="proposals")
app.add_typer(authority_app, name="authority")
outbox_app = typer.Typer(help="Proposals waiting to be exported to ConfigHub.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
experiments_app = typer.Typer(
    help="Experiments recorded by agents: hand one over to another agent, check their summaries.",
    no_args_is_help=True,
)
app.add_typer(experiments_app, name="experiments")
results_app = typer.Typer(
    help="Result batches: leave a bad one out of comparisons (rows are never deleted).", no_args_is_help=True
)
app.add_typer(results_app, name="results")
reviewers_app = typer.Typer(
    help="Reviewers' SSH keys (the allowed-signers file) that sign decisions where the policy requires it.",
    no_args_is_help=True,
)
app.add_typer(reviewers_app, name="reviewers")
tokens_app = typer.Typer(
    help="Bearer tokens for agents on the shared HTTP server (humans only; a token is shown once).",
    no_args_is_help=True,
)
app.add_typer(tokens_app, name="tokens")
quotas_app = typer.Typer(help="Per-agent quotas: the policy's, and the ones a human raised.", no_args_is_help=True)
app.add_typer(quotas_app, name="quotas")

Db = Annotated[
    str | None,
    typer.Option("--db", help="SQLite file or SQLAlchemy URL [env: CUBLAB_DB; default: the user data directory]"),
]
As = Annotated[str | None, typer.Option("--as", help="Your identity, human:<name> [default: human:<your OS user>]")]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded in the audit log")]
SignWith = Annotated[
    str | None,
    typer.Option(
        "--sign-with",
        help="Sign the decision with this SSH key (a private key, or a public key ssh-agent holds the private half of); "
        "required where the policy marks the tier (production by default). Register it first: cublab reviewers add",
    ),
]
Policy = Annotated[
    str | None, typer.Option("--policy", help="Policy file [env: CUBLAB_POLICY; default: the built-in seed policy]")
]
AuthorityOpt = Annotated[
    str | None,
    typer.Option(
        "--authority",
        help="embedded or confighub (needs CONFIGHUB_URL and CONFIGHUB_TOKEN) [env: CUBLAB_AUTHORITY; default: embedded]",
    ),
]
ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--confighub-mode",
        help="shadow (a unit in <space>-proposals) or in-place (a head revision of the target) [env: CUBLAB_CONFIGHUB_MODE; default: shadow]",
    ),
]
InPlaceOpt = Annotated[
    bool,
    typer.Option(
        "--in-place-confirmed-approval-trigger",
        help="Confirm every target space has an approval trigger (vet-approvedby); in-place mode is refused without it [env: CUBLAB_CONFIGHUB_IN_PLACE_CONFIRMED=1]",
    ),
]


UserHeader = Annotated[
    str | None,
    typer.Option(
        "--trusted-user-header",
        help="Behind an authenticating reverse proxy: take the reader's name from this header (e.g. X-Forwarded-User)",
    ),
]
TrustedProxy = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-proxy", help="An address (or network) the trusted header may come from; repeat for several"
    ),
]


def _console_auth(as_: str | None, user_header: str | None, proxies: list[str] | None, host: str) -> ConsoleAuth:
    """The console's reader mode from the flags (web/serve.py), or a refusal naming the flag."""
    import getpass

    from cublab.web.serve import console_auth

    try:
        return console_auth(
            as_=as_, user_header=user_header, trusted_proxies=proxies or [], host=host, os_user=getpass.getuser()
        )
    except CublabError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    from cublab.console import echo

    echo(f"error: {message}", err=True, style="red")
    raise typer.Exit(2)


def _runtime(db: str | None, policy: str | None = None) -> Runtime:
    from cublab.runtime import Runtime

    try:
        return Runtime(Settings.resolve(db=db, agent="agent:cublab-cli", policy=policy))
    except CublabError as exc:
        _fail(str(exc))


@app.command()
def serve(
    db: Db = None,
    policy: Policy = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", help="Identity of the agent this server acts for, agent:<type>-<session> [env: CUBLAB_AGENT]"
        ),
    ] = None,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio")] = False,
    host: Annotated[str, typer.Option(help="HTTP bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8765,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="HTTP without bearer tokens (loopback addresses only; X-Cublab-Agent then names the agent)",
        ),
    ] = False,
    auth_issuer: Annotated[
        str | None,
        typer.Option(
            "--auth-issuer",
            help="Accept JWT access tokens from this OAuth 2.1 authorization server instead of cublab tokens",
        ),
    ] = None,
    auth_audience: Annotated[
        str | None,
        typer.Option(
            "--auth-audience", help="The audience (aud) the issuer's tokens must name [default: the public URL]"
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url", help="The MCP URL clients use, e.g. behind a TLS proxy [default: http://<host>:<port>/mcp]"
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option("--allowed-host", help="Another Host header to accept (name or name:port; name:* any port)"),
    ] = None,
    allowed_origin: Annotated[
        list[str] | None, typer.Option("--allowed-origin", help="Another Origin to accept (https://name[:port])")
    ] = None,
    toolsets: Annotated[
        list[str] | None,
        typer.Option(
            "--toolsets",
            help="Offer only these toolsets (sandboxes, experiments, promotion, policy, breakglass; comma-separated or repeated)",
        ),
    ] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Offer only the read-only tools")] = False,
    authority: AuthorityOpt = None,
    confighub_mode: ModeOpt = None,
    in_place_confirmed: InPlaceOpt = False,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format", help="stderr log lines: text or json (one record per line) [env: CUBLAB_LOG_FORMAT]"
        ),
    ] = "",
    ui: Annotated[
        bool, typer.Option("--ui", help="With --http: also serve the review console at /ui (docs/console.md)")
    ] = False,
    as_: As = None,
    trusted_user_header: UserHeader = None,
    trusted_proxy: TrustedProxy = None,
) -> None:
    """Run the MCP server (stdio by default; nothing but protocol on stdout)."""
    if ui and not http:
        _fail("--ui: the review console is served over HTTP; add --http")
    console = _console_auth(as_, trusted_user_header, trusted_proxy, host) if ui else None
    from cublab.serve import Refused
    from cublab.serve import serve as run

    try:
        run(
            db=db,
            policy=policy,
            agent=agent,
            http=http,
            host=host,
            port=port,
            no_auth=no_auth,
            auth_issuer=auth_issuer,
            auth_audience=auth_audience,
            public_url=public_url,
            allowed_host=allowed_host,
            allowed_origin=allowed_origin,
            toolsets=toolsets,
            read_only=read_only,
            authority=authority,
            confighub_mode=confighub_mode,
            in_place_confirmed=in_place_confirmed,
            log_format=log_format,
            console=console,
        )
    except Refused as exc:
        _fail(str(exc))


@app.command("ui")
def ui_command(
    db: Db = None,
    policy: Policy = None,
    as_: As = None,
    host: Annotated[
        str, typer.Option(help="Bind address (loopback unless a trusted proxy names the reader)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8766,
    trusted_user_header: UserHeader = None,
    trusted_proxy: TrustedProxy = None,
    authority: AuthorityOpt = None,
) -> None:
    """The review console in a browser: inbox, experiments, proposals and their decisions (docs/console.md).

    Prints a login URL holding a one-time token (like Jupyter); you decide as --as (default human:<OS user>).
    """
    auth = _console_auth(as_, trusted_user_header, trusted_proxy, host)
    from cublab.runtime import Runtime

    try:
        runtime = Runtime(Settings.resolve(db=db, agent="agent:cublab-console", policy=policy, authority=authority))
        _ = runtime.policy
        _ = runtime.ctx  # migrate and load the audit key before the URL is printed
    except CublabError as exc:
        _fail(str(exc))
    from cublab.web.serve import run_console

    try:
        run_console(runtime, auth, host, port)
    finally:
        runtime.close()


@app.command()
def demo(db: Db = None) -> None:
    """Drive a real cublab server over stdio through the governed workflow, as an agent would."""
    from cublab.console import console
    from cublab.demo import run_demo

    run_demo(Settings.resolve(db=db, agent="agent:cublab-demo").db, console().print)


@audit_app.command("verify")
def audit_verify(db: Db = None) -> None:
    """Check the audit log: every event's hash, link and MAC, and the witness's checkpoints; name every problem."""
    from cublab.console import echo

    try:
        result = _runtime(db).audit.verify()
    except CublabError as exc:
        _fail(str(exc))
    witness = (
        f"witness at event {result.witnessed} ({result.checkpoints} checkpoints)"
        if result.witnessed is not None
        else "no checkpoints"
    )
    where = f"key {result.key.key_source}; witness {result.key.witness}; public key {result.key.public_key}"
    if result.ok:
        echo(
            f"audit log OK: {result.events} events, chain intact, {result.authenticated} authenticated, "
            f"{witness} ({result.database})"
        )
        echo(f"  {where}")
        return
    echo(f"audit log BROKEN: {len(result.problems)} problem(s) in {result.events} events", err=True, style="red")
    for problem in result.problems:
        echo(f"  {problem}", err=True)
    echo(f"  {result.authenticated} of {result.events} events authenticated; {witness}", err=True)
    echo(f"  {where}", err=True)
    raise typer.Exit(1)


@audit_app.command("key")
def audit_key(db: Db = None) -> None:
    """Where the audit key and this database's witness are, and the witness's public key (never the key)."""
    from cublab.console import echo

    try:
        info = _runtime(db).audit.key_info()
    except CublabError as exc:
        _fail(str(exc))
    echo(f"key:        {info.key_source}")
    echo(f"witness:    {info.witness}")
    echo(f"public key: {info.public_key}")
    echo(f"database:   {info.database}")
    echo("Keep the key from agents and database writers: docs/threat-model.md. Record the public key elsewhere.")


@audit_app.command("seal")
def audit_seal(as_: As = None, db: Db = None) -> None:
    """Authenticate a log written before the audit key existed, once its hashes and witness verify (audited)."""
    from cublab.console import echo

    who = _human(as_)
    try:
        result = _runtime(db).audit.seal(who)
    except CublabError as exc:
        _fail(str(exc))
    if not result.sealed:
        echo("nothing to seal: every event already carries a MAC")
        return
    echo(
        f"sealed events 1-{result.through} as {who}; the seal is recorded in the log (public key {result.key.public_key})"
    )


@audit_app.command("log")
def audit_log(
    db: Db = None,
    actor: Annotated[str | None, typer.Option(help="only this identity (agent:..., human:...)")] = None,
    object_: Annotated[
        str | None,
        typer.Option("--object", help="only this object: TYPE/ID (proposal/prp_..., unit/space/unit) or an ID"),
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="only this action (proposal.approve), or a prefix ending in '.'")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="from this moment: ISO 8601 (UTC unless it says otherwise) or a duration ago (2h, 3d)"),
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this moment: ISO 8601 or a duration ago")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first (1 to 200)")] = 50,
    before: Annotated[
        int | None, typer.Option(help="only events older than this sequence number (the next page)")
    ] = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="also verify the whole chain")] = True,
) -> None:
    """The audit log, newest first, filtered; each event marked if it fails its own hash or MAC, and the chain's
    verification (naming the first broken event) below."""
    from cublab.app.read_models import AuditQuery
    from cublab.console import console, data, echo, table

    runtime = _runtime(db)
    object_type, object_id = None, object_
    if object_ and "/" in object_:
        object_type, object_id = object_.split("/", 1)
    try:
        query = AuditQuery(
            actor=actor,
            object_type=object_type or None,
            object_id=object_id or None,
            action=action,
            since=_moment(since, "--since") if since else None,
            until=_moment(until, "--until") if until else None,
            before=before,
            limit=limit,
        )
        page = runtime.audit.log(query)
    except (CublabError, ValueError) as exc:
        _fail(_input_problem(exc))
    rows = table("seq", "at", "actor", "action", "object", "explanation", "intact", ids=("seq", "object"))
    for ev in page.events:
        rows.add_row(
            str(ev.seq),
            f"{ev.at:%Y-%m-%d %H:%M:%S}",
            data(ev.actor),
            data(ev.action),
            data(f"{ev.object_type}/{ev.object_id}"),
            data(ev.explanation or ""),
            "yes" if ev.intact else "NO",
            style=None if ev.intact else "bold red",
        )
    console().print(rows)
    if page.next_before is not None:
        echo(f"older events: --before {page.next_before}")
    if not verify:
        return
    try:
        check = runtime.audit.verify()
    except CublabError as exc:
        _fail(str(exc))
    if check.ok:
        echo(f"chain: verifies ({check.events} events, {check.authenticated} authenticated)")
        return
    first = f"first broken event: {check.first_broken}; " if check.first_broken is not None else ""
    echo(f"chain: BROKEN: {first}{len(check.problems)} problem(s); `cublab audit verify` names each", style="bold red")
    echo(f"  {check.problems[0]}", style="red")


def _moment(text: str, field: str) -> datetime:
    """An ISO 8601 moment (UTC when it names no zone) or a duration before now (`2h`)."""
    from datetime import UTC, datetime

    from cublab.domain.durations import parse_duration

    try:
        return datetime.now(UTC) - parse_duration(text, field)
    except CublabError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{field}: {text[:40]!r} is neither an ISO 8601 moment (2026-11-27T08:00:00Z) nor a duration (2h, 3d)")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@sandboxes_app.command("reap")
def sandboxes_reap(db: Db = None) -> None:
    """Mark every sandbox past its expiry as expired (one audit event each), and forget idempotency keys older
    than the longest sandbox lifetime."""
    from cublab.console import echo
    from cublab.domain.identity import SYSTEM

    runtime = _runtime(db)
    reaped = runtime.sandboxes.reap(SYSTEM)
    echo(f"expired {len(reaped)} sandbox(es)" + (": " + ", ".join(reaped) if reaped else ""))
    forgotten = runtime.idempotency.prune()
    if forgotten:
        echo(f"forgot {forgotten} idempotency key(s) older than the longest sandbox lifetime")


@sandboxes_app.command("list")
def sandboxes_list(
    db: Db = None,
    status: Annotated[str | None, typer.Option(help="active, destroyed or expired")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 50,
) -> None:
    """List sandboxes, newest first."""
    from cublab.app.inputs import ListSandboxes
    from cublab.console import console, table

    runtime = _runtime(db)
    _overdue_banner(runtime)
    try:
        page = runtime.sandboxes.list(ListSandboxes(status=status, limit=limit, cursor=None))
    except (CublabError, ValueError) as exc:
        _fail(str(exc))
    rows = table("id", "name", "status", "owner", "expires_at")
    for s in page.sandboxes:
        rows.add_row(s.id, s.name, s.status, s.owner, s.expires_at.isoformat(timespec="seconds"))
    console().print(rows)


def _human(as_: str | None) -> Identity:
    """The deciding identity: a human, never an agent. A shell set up as an agent is refused outright."""
    import getpass

    from cublab.domain.identity import human_identity

    if "CUBLAB_AGENT" in os.environ:  # set at all, even empty or blank: an agent's environment
        _fail(
            "CUBLAB_AGENT is set in this environment (even empty, it marks an agent's shell); decisions are made by "
            "humans. Run `unset CUBLAB_AGENT` to decide as yourself."
        )
    from cublab.app.guards import refuse_secret_identity

    try:
        raw = as_ or f"human:{getpass.getuser()}"
        refuse_secret_identity(raw, "--as")
        return human_identity(raw, "--as")
    except CublabError as exc:
        _fail(str(exc))


def _print_proposal(document: ProposalDocument) -> None:
    """The review screen. Agent text sits in boxes (panels, table cells) or on one line with its line
    breaks shown, so only cublab's own lines start a line: no rationale can print a status."""
    from rich.panel import Panel
    from rich.text import Text

    from cublab.console import code, console, data, inline, line, styled, table

    out = console()
    view = document.proposal
    t = view.target
    header = Text("\n").join(
        [
            line(
                (view.id, "bold"),
                "  state ",
                (view.state, "bold"),
                f"  ({view.state_reason})" if view.state_reason else "",
            ),
            line(
                f"target {t.space}/{t.unit} ", "(new unit)" if t.new_unit else f"at base revision {t.base_revision_num}"
            ),
            line(
                f"proposer {view.proposer.identity} (model {view.proposer.model or 'not given'}, "
                f"confidence {view.proposer.confidence:g})"
            ),
            line("risk ", (view.risk.level, "bold"), f"; requires: {view.requirement.description}"),
            line(f"created {view.created_at:%Y-%m-%d %H:%M:%S} UTC, expires {view.expires_at:%Y-%m-%d %H:%M:%S} UTC"),
            line(f"authority {view.authority.name}, change set {view.authority.change_set_slug}"),
        ]
    )
    out.print(Panel(header, title=styled("proposal", "")))
    out.print(Panel(data(view.rationale), title=styled("rationale (written by the proposer)", "bold"), expand=False))
    if view.justification:
        out.print(Panel(data(view.justification), title=styled("justification (not the winner)", "bold yellow")))
    out.print(Panel(code(document.diff or "(no change)", "diff"), title=styled("diff", "")))
    evidence = view.evidence
    ranked = table(
        "rank",
        "variant",
        "n",
        "mean",
        "stddev",
        "95% CI",
        ids=(),
        title=line(
            f"evidence: {evidence.get('metric')} ({evidence.get('direction')}), verdict {evidence.get('verdict')}"
        ),
    )
    for row in evidence.get("variants", []):
        mark = " <- proposed" if row["variant_id"] == view.variant_id else ""
        ci = f"{row['ci_low']:.4g} – {row['ci_high']:.4g}" if row.get("ci_low") is not None else "-"
        mean = f"{row['mean']:.4g}" if row.get("mean") is not None else "-"
        sd = f"{row['stddev']:.4g}" if row.get("stddev") is not None else "-"
        ranked.add_row(str(row.get("rank") or "-"), data(str(row["name"]) + mark), str(row["n"]), mean, sd, ci)
    out.print(ranked)
    out.print(line(f"   {evidence.get('summary', '')}"))
    out.print(line(("risk rationale", "bold"), ":"))
    for step in view.risk.rationale:
        out.print(line(f"  - {step}"))
    if view.decisions:
        decisions = table(
            "when", "who", "role", "decision", "reason", "signed by", ids=("signed by",), title="decisions so far"
        )
        for d in view.decisions:
            decisions.add_row(
                f"{d.at:%Y-%m-%d %H:%M:%S}",
                data(d.actor),
                data(d.role),
                data(d.decision),
                data(d.reason),
                data(d.key_fingerprint or "-"),
            )
        out.print(decisions)
    else:
        out.print(line("decisions so far: none"))
    for reason in view.not_counted:
        out.print(line(("not counted", "yellow"), ": ", inline(reason)))
    if view.requirement.signed:
        out.print(
            line("decisions here must be signed: --sign-with <your SSH key> (registered with `cublab reviewers add`)")
        )
    out.print(line(("still required", "bold"), f": {view.still_required}"))


@proposals_app.command("list")
def proposals_list(
    db: Db = None,
    state: Annotated[str | None, typer.Option(help="pending, approved, applied, rejected, expired or stale")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 50,
) -> None:
    """List proposals, newest first."""
    from cublab.app.inputs import ListProposals
    from cublab.console import console, table

    runtime = _runtime(db)
    _overdue_banner(runtime)
    try:
        page = runtime.proposals.list(ListProposals(state=state, limit=limit, cursor=None))
    except (CublabError, ValueError) as exc:
        _fail(str(exc))
    rows = table("id", "state", "target", "risk", "still required", "proposer", "expires")
    for p in page.proposals:
        rows.add_row(
            p.id,
            p.state,
            f"{p.target.space}/{p.target.unit}",
            p.risk.level,
            p.still_required if p.state in ("pending", "approved") else "-",
            p.proposer.identity,
            f"{p.expires_at:%Y-%m-%d %H:%M}",
        )
    console().print(rows)


@proposals_app.command("show")
def proposals_show(proposal_id: str, db: Db = None) -> None:
    """The diff, the evidence, the risk rationale, the decisions so far and what is still required."""
    runtime = _runtime(db)
    try:
        document = runtime.proposals.document(proposal_id)
        remote = runtime.proposals.remote_review(proposal_id)
    except CublabError as exc:
        _fail(str(exc))
    _print_proposal(document)
    if remote is not None:
        from cublab.console import echo

        echo("")
        echo(f"in ConfigHub ({remote.status}); a reviewer runs:")
        for line in remote.commands:
            echo(f"  {line}")


def _echo(*parts: str) -> None:
    """One line that may hold data, through the safe console (imported when first needed)."""
    from cublab.console import echo

    echo(*parts)


def _decide(
    action: str, proposal_id: str, reason: str, as_: str | None, db: str | None, sign_with: str | None = None
) -> None:
    from cublab.console import echo

    who = _human(as_)
    runtime = _runtime(db)
    review = runtime.review
    decision = {"approve": "approve", "ack": "acknowledge", "reject": "reject"}.get(action)
    try:
        signature = None
        if sign_with and decision is not None:
            from pathlib import Path

            from cublab.app.signing import sign

            signature = sign(review.decision_message(proposal_id, decision, who, reason), Path(sign_with).expanduser())
        if action == "apply":
            outcome = review.apply(proposal_id, who, reason)
            echo(outcome.message)
            for rival in outcome.staled:
                if rival != proposal_id:
                    echo(f"  {rival} is now stale (a competing proposal was applied)")
            if not outcome.applied:
                raise typer.Exit(1)
            return
        view = {"approve": review.approve, "ack": review.acknowledge, "reject": review.reject}[action](
            proposal_id, who, reason, signature=signature
        )
    except CublabError as exc:
        _fail(str(exc))
    echo(f"{action} recorded for {proposal_id} as {who}: state {view.state}; still required: {view.still_required}")


@proposals_app.command("approve")
def proposals_approve(
    proposal_id: str, reason: Reason, as_: As = None, sign_with: SignWith = None, db: Db = None
) -> None:
    """Approve a proposal (HIGH risk needs this; production HIGH needs two different people, each signing)."""
    _decide("approve", proposal_id, reason, as_, db, sign_with)


@proposals_app.command("ack")
def proposals_ack(
    proposal_id: str, reason: Reason = "acknowledged", as_: As = None, sign_with: SignWith = None, db: Db = None
) -> None:
    """Acknowledge a MEDIUM (or LOW) risk proposal."""
    _decide("ack", proposal_id, reason, as_, db, sign_with)


@proposals_app.command("reject")
def proposals_reject(
    proposal_id: str, reason: Reason, as_: As = None, sign_with: SignWith = None, db: Db = None
) -> None:
    """Reject a proposal (also: object to a LOW risk proposal in its window)."""
    _decide("reject", proposal_id, reason, as_, db, sign_with)


@proposals_app.command("apply")
def proposals_apply(proposal_id: str, reason: Reason = "", as_: As = None, db: Db = None) -> None:
    """Make an approved proposal the unit's head and live revision (embedded authority only)."""
    _decide("apply", proposal_id, reason, as_, db)


@proposals_app.command("reap")
def proposals_reap(db: Db = None) -> None:
    """Mark every open proposal past its expiry (7 days) as expired."""
    from cublab.console import echo
    from cublab.domain.identity import SYSTEM

    expired = _runtime(db).review.expire_due(SYSTEM)
    echo(f"expired {len(expired)} proposal(s)" + (": " + ", ".join(expired) if expired else ""))


@authority_app.command("import")
def authority_import(
    file: Annotated[str, typer.Argument(help="A YAML or JSON file holding one mapping")],
    space: Annotated[str, typer.Option(help="Space slug, e.g. messagewall-prod")],
    unit: Annotated[str, typer.Option(help="Unit slug, e.g. event-handler")],
    tier: Annotated[str | None, typer.Option(help="Space tier label: production, staging or sandbox")] = None,
    toolchain: Annotated[str, typer.Option(help="ToolchainType of a new unit")] = "AppConfig/JSON",
    as_: As = None,
    db: Db = None,
) -> None:
    """Import a unit's configuration as a new head revision (creating the space and unit if needed)."""
    from pathlib import Path

    from cublab.app.guards import parse_config
    from cublab.console import echo

    who = _human(as_)
    try:
        text = Path(file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{file}: {exc}")
    try:  # read as agents' documents are: JSON as JSON, else YAML, with the same size and depth limits
        data = parse_config(text, str(file))
    except CublabError as exc:
        _fail(str(exc))
    try:
        result = _runtime(db).review.import_unit(
            space, unit, data, who, tier=tier, toolchain_type=toolchain, description=f"imported from {Path(file).name}"
        )
    except CublabError as exc:
        _fail(str(exc))
    note = " (unchanged: the file equals the head)" if result["unchanged"] else ""
    echo(f"{space}/{unit} is at revision {result['revision']} ({result['data_hash'][:19]}…){note}")


@authority_app.command("show")
def authority_show(
    space: str,
    unit: str,
    revision: Annotated[
        int | None,
        typer.Option("--revision", help="Show this revision's configuration and decisions instead of the head"),
    ] = None,
    db: Db = None,
) -> None:
    """A unit's head data and its revisions, each naming who proposed it, who approved it and who applied it."""
    from cublab.console import code, console, data, line, table
    from cublab.domain.diff import as_yaml

    runtime = _runtime(db)
    try:
        if revision is not None:
            detail = runtime.revisions.detail(space, unit, revision)
        else:
            history = runtime.revisions.history(space, unit)
    except CublabError as exc:
        _fail(str(exc))
    out = console()
    if revision is not None:
        out.print(
            line((f"{space}/{unit} revision {detail.revision_num}", "bold"), f"  {detail.source}, {detail.data_hash}")
        )
        _print_revision_people(detail)
        out.print(code(as_yaml(detail.data), "yaml"))
        if detail.decisions:
            decisions = table("when", "who", "decision", "reason", "signed by", ids=(), title="decisions")
            for d in detail.decisions:
                decisions.add_row(
                    f"{d.at:%Y-%m-%d %H:%M:%S}",
                    data(d.actor),
                    data(d.decision),
                    data(d.reason),
                    data(d.key_fingerprint or "-"),
                )
            out.print(decisions)
        return
    out.print(
        line(
            (f"{space}/{unit}", "bold"),
            f"  head {history.head_revision_num}, live {history.live_revision_num}, version {history.version}, "
            f"{history.toolchain_type}",
        )
    )
    out.print(code(as_yaml(history.data), "yaml"))
    rows = table(
        "rev",
        "when",
        "source",
        "proposed by",
        "approved by",
        "applied by",
        "proposal",
        "tags",
        "description",
        ids=("proposal",),
        title="revisions",
    )
    for r in history.revisions:
        rows.add_row(
            str(r.revision_num),
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            data(r.source),
            data(r.committed_by),
            data(", ".join(r.approved_by) or "-"),
            data(r.applied_by or "-"),
            r.proposal_id or "-",
            data(", ".join(r.tags)),
            data(r.description),
        )
    out.print(rows)


def _print_revision_people(r: RevisionSummary) -> None:
    from cublab.console import echo

    echo(f"proposed by: {r.committed_by}" + (f" (proposal {r.proposal_id})" if r.proposal_id else ""))
    if r.experiment_id:
        echo(f"from:        experiment {r.experiment_id}, variant {r.variant_id}")
    echo(f"approved by: {', '.join(r.approved_by) or '-'}")
    echo(f"applied by:  {r.applied_by or '-'}")


@authority_app.command("diff")
def authority_diff(space: str, unit: str, rev_a: int, rev_b: int, db: Db = None) -> None:
    """Unified diff between two revisions of a unit."""
    from cublab.console import data, echo
    from cublab.domain.diff import unified_diff

    review = _runtime(db).review
    try:
        a, b = review.revision_data(space, unit, rev_a), review.revision_data(space, unit, rev_b)
    except CublabError as exc:
        _fail(str(exc))
    echo(data(unified_diff(a, b, f"{space}/{unit}@{rev_a}", f"{space}/{unit}@{rev_b}") or "(no difference)"))


@experiments_app.command("verify-summaries")
def experiments_verify_summaries(
    experiment_id: Annotated[
        str | None, typer.Argument(help="One experiment (exp_…); default: every experiment")
    ] = None,
    db: Db = None,
) -> None:
    """Recompute the running summaries experiment_compare reads from the measurements and name every difference
    (exit code 1 when any differs)."""
    from cublab.console import echo

    try:
        checks = _runtime(db).experiments.verify_summaries(experiment_id)
    except CublabError as exc:
        _fail(str(exc))
    differing = [c for c in checks if c.differences]
    for check in checks:
        verdict = f"{len(check.differences)} difference(s)" if check.differences else "OK"
        echo(f"{check.experiment_id}: {check.series} series, {check.points} points: ", verdict)
        for difference in check.differences:
            echo("  ", difference, err=True)
    if differing:
        echo(f"summaries DIFFER in {len(differing)} of {len(checks)} experiment(s)", err=True, style="red")
        raise typer.Exit(1)
    echo(f"summaries OK: {len(checks)} experiment(s) agree with their measurements")


@experiments_app.command("transfer")
def experiments_transfer(
    experiment_id: str,
    to: Annotated[str, typer.Option("--to", help="The new owner: any identity of the agent, agent:<type>-<session>")],
    reason: Reason,
    as_: As = None,
    db: Db = None,
) -> None:
    """Hand an experiment to another agent; its sandbox and the sandbox's other experiments move with it (audited)."""
    from cublab.domain.identity import parse_identity

    who = _human(as_)
    try:
        moved = _runtime(db).ownership.transfer(experiment_id, parse_identity(to, "--to"), who, reason)
    except CublabError as exc:
        _fail(str(exc))
    _echo(
        f"sandbox {moved.sandbox_id} and experiment(s) {', '.join(moved.experiment_ids)} now belong to {moved.owner} "
        f"(were {moved.previous_owner})"
    )


@experiments_app.command("list")
def experiments_list(
    db: Db = None,
    sandbox: Annotated[str | None, typer.Option(help="only experiments in this sandbox (sbx_...)")] = None,
    agent: Annotated[
        str | None, typer.Option(help="only this owner (agent:<type>) or the exact identity that created them")
    ] = None,
    space: Annotated[str | None, typer.Option(help="only this target space")] = None,
    unit: Annotated[str | None, typer.Option(help="only this target unit")] = None,
    state: Annotated[str | None, typer.Option(help="running, proposed, applied or closed")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first (1 to 200)")] = 50,
    offset: Annotated[int, typer.Option(help="skip this many (the next page starts where this one ends)")] = 0,
) -> None:
    """List experiments, newest first, with where each stands."""
    from cublab.app.read_models import ExperimentFilter
    from cublab.console import console, echo, table

    runtime = _runtime(db)
    try:
        query = ExperimentFilter(
            sandbox_id=sandbox, agent=agent, space=space, unit=unit, state=state, limit=limit, offset=offset
        )
        page = runtime.experiment_reads.search(query)
    except (CublabError, ValueError) as exc:
        _fail(_input_problem(exc))
    rows = table(
        "id", "name", "state", "owner", "target", "variants", "sandbox", "created", "proposal", ids=("id", "proposal")
    )
    for e in page.experiments:
        rows.add_row(
            e.id,
            e.name,
            e.state,
            e.owner,
            f"{e.target_space or '-'}/{e.target_unit or '-'}",
            str(e.variant_count),
            e.sandbox_status,
            f"{e.created_at:%Y-%m-%d %H:%M}",
            e.latest_proposal_id or "-",
        )
    console().print(rows)
    shown = f"{page.offset + 1}-{page.offset + len(page.experiments)}" if page.experiments else "none"
    more = f"; next page: --offset {page.next_offset}" if page.next_offset is not None else ""
    echo(f"{shown} of {page.total}{more}")


@experiments_app.command("show")
def experiments_show(
    experiment_id: str,
    metric: Annotated[str | None, typer.Option(help="compare this metric [default: the objective]")] = None,
    batches: Annotated[int, typer.Option(help="how many result batches, newest first (1 to 200)")] = 20,
    db: Db = None,
) -> None:
    """The hypothesis, every variant's configuration, the comparison, the result batches and the proposals."""
    runtime = _runtime(db)
    try:
        detail = runtime.experiment_reads.detail(experiment_id, metric, batch_limit=batches)
    except CublabError as exc:
        _fail(str(exc))
    _print_experiment(detail)


def _print_experiment(detail: ExperimentDetail) -> None:
    """An experiment for review. As on the proposal screen, agent text is boxed (panels, cells) or inline."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from cublab.console import code, console, data, line, styled, table
    from cublab.domain.diff import as_yaml

    out = console()
    e = detail.experiment
    header = Text("\n").join(
        [
            line((e.id, "bold"), "  state ", (detail.state, "bold"), f"  {e.name}"),
            line(f"owner {e.owner} (created by {e.created_by}, {e.created_at:%Y-%m-%d %H:%M:%S} UTC)"),
            line(f"sandbox {detail.sandbox_id} ({detail.sandbox_status})  {detail.sandbox_name}"),
            line(f"target {e.target_space or '-'}/{e.target_unit or '-'}"),
            line(
                f"objective {e.objective_metric} ({e.direction}); metrics measured: {', '.join(detail.metrics) or 'none'}"
            ),
        ]
    )
    out.print(Panel(header, title=styled("experiment", "")))
    out.print(Panel(data(e.hypothesis), title=styled("hypothesis (written by the agent)", "bold"), expand=False))
    for v in detail.variants:
        body = Group(line(f"{v.content_hash}, logged by {v.created_by}"), code(as_yaml(v.config), "yaml"))
        out.print(Panel(body, title=line((f"variant {v.id}", "bold"), f"  {v.name}"), expand=False))
        if v.description:
            out.print(Panel(data(v.description), title=styled("description", ""), expand=False))
    c = detail.comparison
    if c is None:
        out.print(line(("comparison", "bold"), f": not available: {detail.comparison_problem}"))
    else:
        p = f", p = {c.p_value:.3g}" if c.p_value is not None else ""
        rows = table(
            "rank",
            "variant",
            "n",
            "mean",
            f"{c.confidence_level:.0%} CI",
            "stddev",
            "min",
            "max",
            ids=(),
            title=line(f"comparison: {c.metric} ({c.direction}), verdict {c.verdict}{p}"),
        )
        for r in c.variants:
            mark = " <- winner" if r.variant_id == c.winner else ""
            rows.add_row(
                str(r.rank or "-"),
                data(f"{r.name} ({r.variant_id}){mark}"),
                str(r.n),
                _num(r.mean),
                f"{_num(r.ci_low)} – {_num(r.ci_high)}" if r.ci_low is not None else "-",
                _num(r.stddev),
                _num(r.min),
                _num(r.max),
            )
        out.print(rows)
        out.print(line(f"   {c.summary}"))
    batches = table(
        "batch",
        "logged at",
        "logged by",
        "points",
        "metrics",
        "digest",
        "excluded",
        ids=("batch", "digest"),
        title=f"result batches ({len(detail.batches)} newest of {detail.batch_total})",
    )
    for b in detail.batches:
        batches.add_row(
            str(b.id),
            f"{b.logged_at:%Y-%m-%d %H:%M:%S}",
            data(b.logged_by),
            str(b.points),
            data(", ".join(b.metrics)),
            b.digest,
            data(f"by {b.excluded_by}: {b.exclusion_reason}") if b.excluded else "-",
        )
    out.print(batches)
    if detail.proposals:
        proposals = table("id", "state", "risk", "target", "variant", "proposer", "created", ids=("id", "variant"))
        for pr in detail.proposals:
            proposals.add_row(
                pr.id,
                pr.state,
                pr.risk,
                data(pr.target),
                pr.variant_id or "-",
                data(pr.proposer),
                f"{pr.created_at:%Y-%m-%d %H:%M}",
            )
        out.print(proposals)
    else:
        out.print(line("proposals: none"))


def _num(value: float | None) -> str:
    return f"{value:.4g}" if value is not None else "-"


def _input_problem(exc: Exception) -> str:
    """A refused option, named: pydantic's errors as `field: message`, one per line; cublab's as they are."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"--{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)


@experiments_app.command("export")
def experiments_export(
    experiment_id: str,
    format_: Annotated[str, typer.Option("--format", help="csv or json")] = "json",
    output: Annotated[str | None, typer.Option("--output", help="write to this file [default: stdout]")] = None,
    db: Db = None,
) -> None:
    """Every variant with its configuration and per-variant statistics for each metric, as CSV or JSON.

    CSV cells an agent wrote that start like a formula (= + - @) get a leading ' so a spreadsheet shows them
    as text. Nothing in it can act on a terminal: JSON escapes every non-ASCII character, CSV shows control
    characters as escapes."""
    from cublab.app.export import export_csv, export_json
    from cublab.console import echo

    if format_ not in ("csv", "json"):
        _fail(f"--format: {format_!r} is neither 'csv' nor 'json'")
    try:
        export = _runtime(db).experiment_reads.export(experiment_id)
    except CublabError as exc:
        _fail(str(exc))
    text = export_csv(export) if format_ == "csv" else export_json(export)
    if output:
        from pathlib import Path

        try:
            with Path(output).expanduser().open("w", encoding="utf-8", newline="") as f:
                f.write(text)
        except OSError as exc:
            _fail(f"--output: {output}: {exc.strerror or exc}")
        echo(f"wrote {len(export.variants)} variant(s) of {experiment_id} as {format_} to {output}", err=True)
    else:
        sys.stdout.write(text)


@results_app.command("exclude")
def results_exclude(
    batch: Annotated[
        int, typer.Argument(help="The batch id (result_log's batch_id; the audit log's result.log events)")
    ],
    reason: Reason,
    as_: As = None,
    db: Db = None,
) -> None:
    """Leave a result batch out of experiment_compare and variant_promote (audited; its rows stay)."""
    who = _human(as_)
    try:
        excluded = _runtime(db).batches.exclude_batch(batch, reason, who)
    except CublabError as exc:
        _fail(str(exc))
    _echo(
        f"result batch {excluded.batch_id} ({excluded.points} point(s)) of experiment {excluded.experiment_id} is "
        "excluded from comparisons; its rows are kept (`cublab results include` counts it again)"
    )


@results_app.command("include")
def results_include(
    batch: Annotated[int, typer.Argument(help="An excluded batch's id")],
    reason: Reason,
    as_: As = None,
    db: Db = None,
) -> None:
    """Count an excluded result batch in comparisons again (audited)."""
    who = _human(as_)
    try:
        points = _runtime(db).batches.include_batch(batch, reason, who)
    except CublabError as exc:
        _fail(str(exc))
    _echo(f"result batch {batch} ({points} point(s)) counts in comparisons again")


@reviewers_app.command("add")
def reviewers_add(
    reviewer: Annotated[str, typer.Argument(help="The reviewer, human:<name>")],
    public_key: Annotated[str, typer.Argument(help="Their public key file, e.g. ~/.ssh/id_ed25519.pub")],
    as_: As = None,
    db: Db = None,
) -> None:
    """Allow REVIEWER to sign decisions with the key in PUBLIC_KEY (one key belongs to one person)."""
    from pathlib import Path

    from cublab.domain.identity import parse_identity

    who = _human(as_)
    path = Path(public_key).expanduser()
    try:
        text = path.read_text()
    except OSError as exc:
        _fail(f"{public_key}: {exc.strerror or exc}")
    runtime = _runtime(db)
    try:
        added = runtime.reviewers.add(parse_identity(reviewer, "reviewer"), text, who)
    except CublabError as exc:
        _fail(str(exc))
    _echo(f"{added.identity} may sign with {added.key_type} {added.fingerprint} ({runtime.reviewers.path})")


@reviewers_app.command("list")
def reviewers_list(db: Db = None) -> None:
    """The reviewers and the keys they sign with."""
    reviewers = _runtime(db).reviewers
    rows = reviewers.registered()
    for r in rows:
        _echo(f"{r.identity}  {r.key_type}  {r.fingerprint}  {r.comment}")
    _echo(f"{len(rows)} key(s) in {reviewers.path}")


@reviewers_app.command("remove")
def reviewers_remove(
    reviewer: Annotated[str, typer.Argument(help="The reviewer, human:<name>")],
    fingerprint: Annotated[str | None, typer.Option(help="Only this key (SHA256:...); default: all their keys")] = None,
    as_: As = None,
    db: Db = None,
) -> None:
    """Stop REVIEWER's keys (or one of them) from signing decisions."""
    from cublab.domain.identity import parse_identity

    who = _human(as_)
    try:
        removed = _runtime(db).reviewers.remove(parse_identity(reviewer, "reviewer"), who, fingerprint)
    except CublabError as exc:
        _fail(str(exc))
    _echo(f"removed {', '.join(removed)}")


@tokens_app.command("create")
def tokens_create(
    agent: Annotated[str, typer.Option("--agent", help="The agent the token acts as, agent:<type>-<name>")],
    scope: Annotated[str, typer.Option("--scope", help="read (read-only tools) or write (every tool)")] = "write",
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime, e.g. 30d or 12h, or 'never' [default: 90d]")
    ] = "90d",
    toolsets: Annotated[
        list[str] | None,
        typer.Option("--toolsets", help="Only these toolsets (comma-separated or repeated) [default: all]"),
    ] = None,
    as_: As = None,
    db: Db = None,
) -> None:
    """Make a token for AGENT and print it once (only its hash is kept; audited)."""
    from cublab.console import echo
    from cublab.domain.identity import parse_identity

    who = _human(as_)
    try:
        issued = _runtime(db).tokens.create(parse_identity(agent, "--agent"), who, scope, expires, toolsets)
    except CublabError as exc:
        _fail(str(exc))
    info = issued.info
    until = f"until {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "without expiry"
    echo(
        f"token {info.id} for {info.agent}, scope {info.scope}, toolsets {', '.join(info.toolsets or ('all',))}, {until}",
        err=True,
    )
    echo("Shown once; store it in the agent's secret store. Send it as: Authorization: Bearer <token>", err=True)
    print(issued.token)  # alone on stdout, so `cublab tokens create ... > file` captures just the token


@tokens_app.command("list")
def tokens_list(
    all_: Annotated[bool, typer.Option("--all", help="Also revoked and expired tokens")] = False, db: Db = None
) -> None:
    """Tokens (never their values): id, agent, scope, toolsets, expiry, status."""
    from cublab.console import console, table

    runtime = _runtime(db)
    now = runtime.ctx.clock()
    rows = table("id", "agent", "scope", "toolsets", "created", "expires", "status")
    for t in runtime.tokens.list(include_inactive=all_):
        rows.add_row(
            t.id,
            t.agent,
            t.scope,
            ", ".join(t.toolsets or ("all",)),
            f"{t.created_at:%Y-%m-%d %H:%M} by {t.created_by}",
            f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "never",
            t.status(now),
        )
    console().print(rows)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id, tok_… (cublab tokens list)")],
    as_: As = None,
    db: Db = None,
) -> None:
    """Revoke a token: the next request presenting it is refused (audited)."""
    who = _human(as_)
    try:
        info = _runtime(db).tokens.revoke(token_id, who)
    except CublabError as exc:
        _fail(str(exc))
    _echo(f"revoked {info.id} ({info.agent})")


@quotas_app.command("list")
def quotas_list(
    agent: Annotated[str, typer.Option("--agent", help="Any identity of the agent, agent:<type>-<session>")],
    db: Db = None,
    policy: Policy = None,
) -> None:
    """The quotas in force for an agent's principal (every session of it) and where each comes from."""
    from cublab.domain.identity import parse_identity

    try:
        values = _runtime(db, policy).quotas.effective(parse_identity(agent, "--agent").principal)
    except CublabError as exc:
        _fail(str(exc))
    for q in values:
        _echo(f"{q.principal}  {q.name:24} {q.value:>12}  ({q.source})")


@quotas_app.command("set")
def quotas_set(
    agent: Annotated[
        str, typer.Option("--agent", help="Any identity of the agent; the quota applies to all its sessions")
    ],
    name: Annotated[
        str,
        typer.Option("--name", help="live_sandboxes, variants_per_experiment, points_per_hour or open_proposals"),
    ],
    value: Annotated[int, typer.Option("--value", help="The new quota")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why; recorded in the audit log")] = None,
    as_: As = None,
    db: Db = None,
    policy: Policy = None,
) -> None:
    """Raise (or lower) one quota for one agent (audited with the previous value)."""
    from cublab.domain.identity import parse_identity

    who = _human(as_)
    try:
        q = _runtime(db, policy).quotas.set(parse_identity(agent, "--agent"), name, value, who, reason)
    except CublabError as exc:
        _fail(str(exc))
    _echo(f"{q.principal}: {q.name} is now {q.value} ({q.source})")


def _remote_runtime(db: str | None, authority: str | None) -> Runtime:
    from cublab.runtime import Runtime

    try:
        return Runtime(Settings.resolve(db=db, agent="agent:cublab-cli", authority=authority or "confighub"))
    except CublabError as exc:
        _fail(str(exc))


@proposals_app.command("sync")
def proposals_sync(db: Db = None, authority: AuthorityOpt = None) -> None:
    """Read ConfigHub (ApprovedBy, LiveRevisionNum, the change set) and move exported proposals to approved, applied, rejected or stale."""
    from cublab.console import echo

    runtime = _remote_runtime(db, authority)
    try:
        results = runtime.proposal_sync.sync()
    except CublabError as exc:
        _fail(str(exc))
    moved = [r for r in results if r.after != r.before]
    for r in results:
        echo(f"{r.proposal_id}: {r.before}{' -> ' + r.after if r.after != r.before else ''} ({r.reason})")
    echo(f"synced {len(results)} proposal(s), {len(moved)} changed state")
    if any(r.reason.startswith("not read:") for r in results):
        raise typer.Exit(1)


@outbox_app.command("flush")
def outbox_flush(
    db: Db = None,
    authority: AuthorityOpt = None,
    retry_held: Annotated[
        bool,
        typer.Option(
            "--retry-held", help="Also retry exports held by 401/403 or another refusal, once you fixed the cause"
        ),
    ] = False,
) -> None:
    """Deliver queued proposals to ConfigHub now (the server also does it periodically)."""
    from cublab.console import echo

    runtime = _remote_runtime(db, authority)
    results = runtime.outbox.flush(retry_held=retry_held)
    for d in results:
        echo(f"{d.outcome:9} {d.message}")
    delivered = sum(1 for d in results if d.outcome == "delivered")
    echo(f"delivered {delivered} of {len(results)} attempted; {len(runtime.outbox.pending())} still waiting")
    if any(d.outcome in ("queued", "held") for d in results):
        raise typer.Exit(1)


@outbox_app.command("list")
def outbox_list(db: Db = None) -> None:
    """Exports not delivered yet: queued, held (needs an operator) or being delivered."""
    from cublab.console import echo

    rows = _runtime(db).outbox.pending()
    for row in rows:
        echo(f"{row['proposal_id']}  {row['status']:10} attempts {row['attempts']}  {row['last_error'] or ''}")
    echo(f"{len(rows)} waiting")


def _overdue_banner(runtime: Runtime) -> None:
    """Overdue break-glass obligations are reported loudly on every listing until they are met."""
    from cublab.console import echo

    lines = runtime.breakglass.overdue_warnings()
    if lines:
        echo(
            f"!!! {len(lines)} reconciliation obligation(s) OVERDUE (seed criterion 4: capture within 1 hour, review within 24 hours):",
            err=True,
            style="bold red",
        )
        for line in lines:
            echo(f"!!!   {line}", err=True, style="red")


@policy_app.command("show")
def policy_show(policy: Policy = None) -> None:
    """Print the active policy (as validated) and its version hash."""
    import yaml

    from cublab.console import data, echo
    from cublab.policies import load_policy

    try:
        loaded = load_policy(policy or __import__("os").environ.get("CUBLAB_POLICY") or None)  # empty means the default
    except CublabError as exc:
        _fail(str(exc))
    echo(f"# source: {loaded.source}")
    echo(f"# version: {loaded.digest}")
    echo(data(yaml.safe_dump(loaded.policy.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=110)))


@policy_app.command("check")
def policy_check(file: Annotated[str, typer.Argument(help="A policy file to validate")]) -> None:
    """Validate a policy file; name the first wrong key."""
    from cublab.console import echo
    from cublab.policies import load_policy

    try:
        loaded = load_policy(file)
    except CublabError as exc:
        _fail(str(exc))
    echo(f"{file}: valid (version {loaded.digest})")


@decisions_app.command("list")
def decisions_list(
    db: Db = None,
    verdict: Annotated[
        str | None,
        typer.Option(help="bypass, bypass_then_reconcile or use_confighub (bypass_check); allow, deny or ask (guard)"),
    ] = None,
    criterion: Annotated[int | None, typer.Option(help="criterion number, 1 to 8")] = None,
    actor: Annotated[str | None, typer.Option(help="only this identity's decisions")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 50,
) -> None:
    """The bypass decision log, newest first: bypass_check and guard answers (inputs are digested; no values are kept)."""
    from cublab.console import console, table

    runtime = _runtime(db)
    _overdue_banner(runtime)
    try:
        found = runtime.bypass.decisions(verdict=verdict, criterion=criterion, actor=actor, limit=limit)
    except CublabError as exc:
        _fail(str(exc))
    rows = table("id", "when", "actor", "subject", "context", "verdict", "criterion", "reconciliation")
    for d in found:
        if d.subject.get("source") == "guard":  # a command an agent was about to run (stored redacted)
            command = str(d.subject.get("command") or "")
            subject = "guard: " + (command if len(command) <= 60 else command[:59] + "…")
            contexts = [t.get("context") for t in d.subject.get("targets") or [] if t.get("context")]
            context = ", ".join(dict.fromkeys(contexts)) or "-"
        else:
            context = str(d.subject.get("context"))
            subject = f"{d.subject.get('kind') or '-'} {d.subject.get('name') or ''}".strip()
        rows.add_row(
            d.id,
            f"{d.created_at:%Y-%m-%d %H:%M:%S}",
            d.actor,
            subject,
            context,
            d.verdict,
            str(d.criterion or "-"),
            d.reconciliation.get("kind", "-") if d.reconciliation else "-",
        )
    console().print(rows)


@app.command("obligations")
def obligations(
    db: Db = None,
    status: Annotated[str, typer.Option(help="open (includes overdue), overdue, met or all")] = "open",
    incident: Annotated[str | None, typer.Option(help="only this incident")] = None,
) -> None:
    """Break-glass reconciliation obligations: captures (1 hour) and reviews (24 hours)."""
    from cublab.app.inputs import ListObligations
    from cublab.console import console, table

    runtime = _runtime(db)
    try:
        result = runtime.breakglass.obligations(ListObligations(status=status, incident_id=incident, limit=200))
    except (CublabError, ValueError) as exc:
        _fail(str(exc))
    _overdue_banner(runtime)
    rows = table(
        "id",
        "incident",
        "kind",
        "unit",
        "status",
        "due",
        "met by",
        ids=("id", "incident"),
        title=f"{result.open} open ({result.overdue} overdue), {result.met} met",
    )
    for ob in result.obligations:
        style = "bold red" if ob.status == "overdue" else None
        rows.add_row(
            ob.id,
            ob.incident_id,
            ob.kind,
            ob.unit or "-",
            ob.status,
            f"{ob.due_at:%Y-%m-%d %H:%M:%S}",
            ob.met_by or "-",
            style=style,
        )
    console().print(rows)


@app.command(
    "guard",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def guard(ctx: typer.Context) -> None:
    """May an agent run this command outside cublab? allow (exit 0), deny (1), ask (2): docs/guard.md.

    `cublab guard -- CMD...`, `cublab guard --command "..."`, `cublab guard --hook claude-code`; `--help` for all.
    """
    from cublab.guard_cli import main as guard_main

    raise typer.Exit(guard_main(list(ctx.args)))


def main() -> None:
    if sys.argv[1:2] == ["guard"]:  # the fast path, also when an older launcher script calls this function
        from cublab.guard_cli import main as guard_main

        raise SystemExit(guard_main(sys.argv[2:]))
    from cublab.serve import reporting_faults

    reporting_faults(app)


if __name__ == "__main__":
    main()
