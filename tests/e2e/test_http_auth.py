"""Who may call the shared HTTP server, over real HTTP against `cublab serve --http`.

Every request to /mcp needs `Authorization: Bearer <token>` (a `cublab tokens` token): none, a malformed,
unknown, revoked or expired one is a 401 with `WWW-Authenticate` naming the protected resource metadata, and
writes nothing. The identity recorded is the token's whatever `X-Cublab-Agent` says. A read token neither
sees nor calls a tool that changes things; a token narrowed to toolsets sees only those. The token itself
never reaches the database, the server's log or an error message. Unauthenticated HTTP needs `--no-auth`
and a loopback address.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from support.audit import events
from support.mcp import call, call_error
from support.runtime import make_runtime
from support.serve import HttpServer, child_env, cublab_command, http_client, serve_http

pytestmark = pytest.mark.anyio

AGENT = "agent:claude-code-alice"
WRITE_TOOLS = {"sandbox_spawn", "sandbox_renew", "sandbox_destroy", "experiment_create", "variant_log", "result_log"}
ACCEPT = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
SPAWN = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "sandbox_spawn", "arguments": {"name": "x", "purpose": "must not be written"}},
}
issued: list[str] = []  # every token this module made: none may appear in the database or the log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    tmp = tmp_path_factory.mktemp("auth")
    with serve_http(str(tmp / "cublab.db"), "agent:server-default", tmp / "server.log") as running:
        yield running


def token(server: HttpServer, agent: str = AGENT, **options: Any) -> str:
    value = server.token(agent, **options)
    issued.append(value)
    return value


def post(server: HttpServer, headers: dict[str, str], body: dict[str, Any] = SPAWN) -> httpx2.Response:
    return httpx2.post(server.url, content=json.dumps(body), headers={**ACCEPT, **headers}, timeout=30)


def written(server: HttpServer) -> tuple[int, int]:
    """Sandboxes and audit events in the database."""
    runtime = make_runtime(server.db)
    try:
        with runtime.ctx.db.engine.connect() as conn:
            import sqlalchemy as sa

            sandboxes = conn.execute(sa.text("SELECT count(*) FROM sandbox")).scalar_one()
        return sandboxes, len(events(runtime))
    finally:
        runtime.close()


def refused_401(response: httpx2.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge, challenge
    assert (
        'resource_metadata="http://127.0.0.1:' in challenge and "/.well-known/oauth-protected-resource/mcp" in challenge
    )


def test_requests_without_a_valid_token_are_401_and_write_nothing(server: HttpServer) -> None:
    revoked = token(server)
    runtime = make_runtime(server.db)
    try:
        [row] = [t for t in runtime.tokens.list() if t.agent == AGENT]
        from cublab.domain.identity import human_identity

        runtime.tokens.revoke(row.id, human_identity("human:admin"))
    finally:
        runtime.close()
    expired = token(server, expires="1s")
    time.sleep(1.2)
    well_formed_unknown = "cublab_" + "A" * 43
    before = written(server)
    cases = {
        "none": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty bearer": {"Authorization": "Bearer"},
        "malformed": {"Authorization": "Bearer not-a-token"},
        "unknown": {"Authorization": f"Bearer {well_formed_unknown}"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
        "expired": {"Authorization": f"Bearer {expired}"},
    }
    for case, headers in cases.items():
        response = post(server, headers)
        refused_401(response)
        for value in (revoked, expired, well_formed_unknown):
            assert value not in response.text and value not in response.headers["www-authenticate"], case
    assert written(server) == before


def test_protected_resource_metadata_names_the_resource(server: HttpServer) -> None:
    response = httpx2.get(f"{server.base}/.well-known/oauth-protected-resource/mcp", timeout=30)
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert metadata["resource"] == server.url and metadata["scopes_supported"] == ["cublab:read"]
    assert metadata["authorization_servers"] == [server.base + "/"] or metadata["authorization_servers"] == [
        server.base
    ]


def test_healthz_needs_no_token(server: HttpServer) -> None:
    assert httpx2.get(f"{server.base}/healthz", timeout=30).status_code == 200


async def test_identity_is_the_tokens_on_rows_and_audit_events(server: HttpServer) -> None:
    value = token(server, "agent:reviewer-bot-one")
    headers = {"Authorization": f"Bearer {value}", "X-Cublab-Agent": "agent:impostor-session9"}
    async with http_client(server.url, headers) as client:
        sandbox = await call(client, "sandbox_spawn", name="mine", purpose="identity check")
    assert sandbox["created_by"] == "agent:reviewer-bot-one" and sandbox["owner"] == "agent:reviewer-bot"
    runtime = make_runtime(server.db)
    try:
        [event] = [e for e in events(runtime) if e["object_id"] == sandbox["id"]]
    finally:
        runtime.close()
    assert event["actor"] == "agent:reviewer-bot-one"
    assert "impostor" not in json.dumps(event, default=str)


async def test_a_read_token_neither_lists_nor_calls_write_tools(server: HttpServer) -> None:
    read = token(server, scope="read")
    before = written(server)
    async with http_client(server.url, {"Authorization": f"Bearer {read}"}) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names and not names & WRITE_TOOLS and {"sandbox_list", "experiment_compare", "bypass_check"} <= names
        assert all(t.annotations.read_only_hint for t in (await client.list_tools()).tools)
        message = await call_error(client, "sandbox_spawn", name="no", purpose="read scope")
        assert "read scope" in message and "sandbox_spawn" in message
        assert (await call(client, "sandbox_list"))["sandboxes"] is not None
    assert written(server) == before


async def test_a_token_narrowed_to_toolsets_sees_only_those(server: HttpServer) -> None:
    value = token(server, toolsets=["policy", "sandboxes"])
    async with http_client(server.url, {"Authorization": f"Bearer {value}"}) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {
            "bypass_check",
            "sandbox_spawn",
            "sandbox_get",
            "sandbox_list",
            "sandbox_renew",
            "sandbox_destroy",
        }
        message = await call_error(client, "experiment_list")
        assert "experiment_list" in message and "experiments" in message


async def test_a_pasted_token_is_refused_by_the_secret_gate(server: HttpServer) -> None:
    value = token(server)
    before = written(server)
    async with http_client(server.url, {"Authorization": f"Bearer {value}"}) as client:
        message = await call_error(client, "sandbox_spawn", name="leak", purpose=f"use {value} to call")
    assert "cublab-token" in message and value not in message
    assert written(server) == before


def test_a_wrong_host_header_is_refused_even_with_a_token(server: HttpServer) -> None:
    response = post(server, {"Authorization": f"Bearer {token(server)}", "Host": "evil.example"})
    assert response.status_code == 421, response.text
    response = post(server, {"Authorization": f"Bearer {token(server)}", "Origin": "http://evil.example"})
    assert response.status_code == 403, response.text


# ---- the CLI ------------------------------------------------------------------------------------


def test_tokens_are_made_and_revoked_by_humans_only(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["tokens", "create", "--agent", AGENT, "--db", db], env={"CUBLAB_AGENT": AGENT})
    assert refused.exit_code == 2 and "CUBLAB_AGENT" in refused.output
    made = runner.invoke(
        cli_app,
        ["tokens", "create", "--agent", AGENT, "--scope", "read", "--expires", "30d", "--db", db, "--as", "human:lead"],
        env={"CUBLAB_AGENT": None},
    )
    assert made.exit_code == 0, made.output
    value = made.stdout.strip().splitlines()[-1]
    assert value.startswith("cublab_") and len(value) == 50
    listed = runner.invoke(cli_app, ["tokens", "list", "--db", db], env={"CUBLAB_AGENT": None})
    assert listed.exit_code == 0 and AGENT in listed.output and "read" in listed.output
    assert value not in listed.output and value[7:20] not in listed.output
    token_id = next(w for w in listed.output.split() if w.startswith("tok_"))
    assert (
        runner.invoke(cli_app, ["tokens", "revoke", token_id, "--db", db], env={"CUBLAB_AGENT": AGENT}).exit_code == 2
    )
    revoked = runner.invoke(
        cli_app, ["tokens", "revoke", token_id, "--db", db, "--as", "human:lead"], env={"CUBLAB_AGENT": None}
    )
    assert revoked.exit_code == 0, revoked.output
    runtime = make_runtime(db)
    try:
        assert runtime.tokens.verify(value) is None
        audit = [(e["action"], e["actor"], e["object_id"]) for e in events(runtime)]
    finally:
        runtime.close()
    assert audit == [("token.create", "human:lead", token_id), ("token.revoke", "human:lead", token_id)]
    assert value.encode() not in Path(db).read_bytes()


# ---- unauthenticated HTTP -----------------------------------------------------------------------


def test_no_auth_on_a_non_loopback_address_refuses_to_start(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.10", "::"):
        done = subprocess.run(
            [*cublab_command(), "serve", "--http", "--no-auth", "--host", host, "--db", str(tmp_path / "c.db")],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "--no-auth" in done.stderr and "loopback" in done.stderr and "cublab tokens create" in done.stderr
    assert not (tmp_path / "c.db").exists()


async def test_no_auth_on_loopback_warns_and_trusts_the_header(tmp_path: Path) -> None:
    with serve_http(str(tmp_path / "c.db"), "agent:server-default", tmp_path / "server.log", auth=False) as server:
        async with http_client(server.url, {"X-Cublab-Agent": "agent:header-named"}) as client:
            sandbox = await call(client, "sandbox_spawn", name="by header", purpose="no auth")
        assert sandbox["created_by"] == "agent:header-named"
        async with http_client(server.url, {"X-Cublab-Agent": "human:alice"}) as client:
            message = await call_error(client, "sandbox_spawn", name="as a human", purpose="must be refused")
        assert "x-cublab-agent" in message and "human:alice" in message and "agent:<type>-<session>" in message
        async with http_client(server.url, {}) as client:
            assert [s["name"] for s in (await call(client, "sandbox_list"))["sandboxes"]] == ["by header"]
    log = (tmp_path / "server.log").read_text()
    assert "WARNING: --no-auth" in log


# ---- an external OAuth 2.1 authorization server -------------------------------------------------


async def test_tokens_of_an_external_issuer(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from support.issuer import local_issuer

    with local_issuer() as issuer:
        db = str(tmp_path / "c.db")
        with serve_http(
            db, "agent:server-default", tmp_path / "server.log", args=["--auth-issuer", issuer.url]
        ) as server:
            audience = server.url  # the default audience: the server's own URL
            good = issuer.token(audience, sub="build-7", client_id="ci-bot", scope="cublab:read cublab:write")
            async with http_client(server.url, {"Authorization": f"Bearer {good}", "X-Cublab-Agent": "agent:x-y"}) as c:
                sandbox = await call(c, "sandbox_spawn", name="from ci", purpose="issuer token")
            assert sandbox["created_by"] == "agent:ci-bot-build.7" and sandbox["owner"] == "agent:ci-bot"
            named = issuer.token(audience, sub="agent:reviewer-bot-7", scope="cublab:read")
            async with http_client(server.url, {"Authorization": f"Bearer {named}"}) as c:
                names = {t.name for t in (await c.list_tools()).tools}
                assert names and not names & WRITE_TOOLS
                assert "read scope" in await call_error(c, "sandbox_spawn", name="no", purpose="read only")
            before = written(server)
            other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            for case, bad in {
                "wrong audience": issuer.token("http://elsewhere.example/mcp", sub="x", scope="cublab:write"),
                "expired": issuer.token(audience, sub="x", scope="cublab:write", lifetime=-120),
                "wrong key": issuer.token(audience, sub="x", scope="cublab:write", key=other_key),
                "wrong issuer": jwt_with_issuer(issuer, audience, "http://evil.example"),
                "a cublab-looking token": "cublab_" + "B" * 43,
            }.items():
                refused_401(post(server, {"Authorization": f"Bearer {bad}"}))
                assert case
            no_scope = post(server, {"Authorization": f"Bearer {issuer.token(audience, sub='x', scope='email')}"})
            assert no_scope.status_code == 403 and "insufficient_scope" in no_scope.headers["www-authenticate"]
            assert written(server) == before
            metadata = httpx2.get(f"{server.base}/.well-known/oauth-protected-resource/mcp", timeout=30).json()
            assert metadata["authorization_servers"] in ([issuer.url], [issuer.url + "/"])
        log = (tmp_path / "server.log").read_text()
        assert good not in log and good not in Path(db).read_bytes().decode("latin-1")


def jwt_with_issuer(issuer: Any, audience: str, iss: str) -> str:
    import jwt as pyjwt

    now = int(time.time())
    body = {"iss": iss, "aud": audience, "sub": "x", "scope": "cublab:write", "iat": now, "exp": now + 300}
    return pyjwt.encode(body, issuer.key, algorithm="RS256", headers={"kid": issuer.kid})


# ---- request rate, allowed hosts, what the server offers ------------------------------------------


async def test_a_caller_over_the_request_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    import yaml

    from support.policy_files import DEFAULT, write

    data = yaml.safe_load(DEFAULT)
    data["quotas"].update(requests_per_minute=6, request_burst=3)
    policy = write(tmp_path, "slow.yaml", yaml.safe_dump(data, sort_keys=False))
    args = ["--policy", policy, "--allowed-host", "cublab.internal:*", "--toolsets", "sandboxes,policy", "--read-only"]
    with serve_http(str(tmp_path / "c.db"), "agent:server-default", tmp_path / "server.log", args=args) as server:
        busy = {"Authorization": f"Bearer {token(server, 'agent:busy-one')}"}
        calm = {"Authorization": f"Bearer {token(server, 'agent:calm-one')}"}
        listing = {  # an opening request the server answers 200 on its own
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        statuses = [post(server, busy, listing).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429], statuses
        limited = post(server, busy, listing)
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 10
        assert "requests a minute" in limited.json()["error_description"]
        other = post(server, {**calm, "Host": "cublab.internal:9000"}, listing)  # another caller, an allowed host
        assert other.status_code == 200, other.text
        assert httpx2.get(f"{server.base}/healthz", timeout=30).status_code == 200
        async with http_client(server.url, calm) as client:  # the server offers read-only sandboxes and policy tools
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == {"sandbox_get", "sandbox_list", "bypass_check"}
            from mcp.shared.exceptions import MCPError

            with pytest.raises(MCPError):  # a tool the server does not offer is unknown
                await client.call_tool("sandbox_spawn", {"name": "n", "purpose": "p"})


# ---- an independent client: the TypeScript MCP Inspector ------------------------------------------

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


def inspector(*args: str) -> subprocess.CompletedProcess[str]:
    import shutil

    if shutil.which("npx") is None:
        pytest.skip("npx is not installed: the MCP Inspector check is not run")
    done = subprocess.run(
        ["npx", "-y", INSPECTOR, "--cli", *args], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )
    if "ERR!" in done.stderr and ("ENOTFOUND" in done.stderr or "E404" in done.stderr or "network" in done.stderr):
        pytest.skip(f"npx cannot fetch {INSPECTOR}: {done.stderr[-300:]}")
    return done


def test_the_mcp_inspector_lists_tools_with_a_token_header(server: HttpServer) -> None:
    read = token(server, "agent:inspector-one", scope="read")
    done = inspector("--server-url", server.url, "--method", "tools/list", "--header", f"Authorization: Bearer {read}")
    assert done.returncode == 0, done.stderr[-2000:]
    names = {t["name"] for t in json.loads(done.stdout)["tools"]}
    assert names and not names & WRITE_TOOLS and "experiment_compare" in names
    refused = inspector("--server-url", server.url, "--method", "tools/list", "--stored-auth-only")
    assert refused.returncode != 0 and "auth" in (refused.stdout + refused.stderr).lower()


def test_zz_no_token_reaches_the_database_or_the_log(server: HttpServer) -> None:
    """Last in the module: every token made above for this server, searched for in every file it wrote."""
    if not issued:
        pytest.skip("no token was made in this run (a -k selection)")
    files = [p for p in Path(server.db).parent.iterdir() if p.is_file()]
    assert server.log in files and Path(server.db) in files
    for path in files:
        data = path.read_bytes()
        for value in issued:
            assert value.encode() not in data, path
            assert value.removeprefix("cublab_").encode() not in data, path
