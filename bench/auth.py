"""The per-call cost of bearer-token authentication over streamable HTTP: one sandbox_get round trip
against `cublab serve --http` with a `cublab tokens` token, vs the same call against `--no-auth`, same run.

Both servers run as subprocesses on their own SQLite file, each with one sandbox; the MCP client (one
session per server) calls them in alternating rounds, so machine load hits both alike. With a token, every
request also passes the SDK's bearer middleware and cublab's verifier (a hash and a primary-key read on a
worker thread).

Target (issue 13): under 10% (ratio < 1.10).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread

TARGET_RATIO = 1.10
AGENT = "agent:bench-auth"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(db: Path, *args: str):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUBLAB_") or k == "CUBLAB_AUDIT_KEY_FILE"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cublab",
            "serve",
            "--http",
            "--port",
            str(port),
            "--db",
            str(db),
            "--agent",
            AGENT,
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"cublab serve {' '.join(args)} did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def unlimited_policy(tmp: Path) -> str:
    """The default policy with a request rate no bench reaches (the limiter still runs on both servers)."""
    from importlib import resources

    import yaml

    data = yaml.safe_load(resources.files("cublab.policies").joinpath("default.yaml").read_text())
    data["quotas"].update(requests_per_minute=1_000_000, request_burst=1_000_000)
    path = tmp / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def make_token(db: Path) -> str:
    from cublab.config import Settings
    from cublab.domain.identity import human_identity, parse_identity
    from cublab.runtime import Runtime

    runtime = Runtime(Settings(db=str(db), agent=AGENT, policy_path=None))
    try:
        return runtime.tokens.create(parse_identity(AGENT), human_identity("human:bench"), "write", "1d").token
    finally:
        runtime.close()


async def once(client, sandbox_id: str) -> float:
    t = time.perf_counter()
    result = await client.call_tool("sandbox_get", {"sandbox_id": sandbox_id})
    elapsed = (time.perf_counter() - t) * 1e6
    assert not result.is_error, result.content[0].text
    return elapsed


async def run(auth_url: str, token: str, open_url: str, calls: int, rounds: int) -> dict[str, list[float]]:
    """Per round, the median of `calls` calls to each server, the calls alternating one by one (so a burst of
    load on the machine hits both); also each round's median of the per-pair ratios."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    out: dict[str, list[float]] = {"token": [], "no-auth": [], "pair ratio": []}
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as with_token,
        httpx2.AsyncClient() as without,
        Client(streamable_http_client(auth_url, http_client=with_token)) as authed,
        Client(streamable_http_client(open_url, http_client=without)) as open_,
    ):
        ids = {}
        for name, client in (("token", authed), ("no-auth", open_)):
            made = await client.call_tool("sandbox_spawn", {"name": "bench", "purpose": "auth cost", "ttl": "1h"})
            ids[name] = made.structured_content["id"]
            for _ in range(min(30, calls)):  # warm up
                await once(client, ids[name])
        for r in range(rounds):
            a, b = [], []
            for k in range(calls):
                first = (r + k) % 2 == 0  # alternate which goes first
                if first:
                    a.append(await once(authed, ids["token"]))
                b.append(await once(open_, ids["no-auth"]))
                if not first:
                    a.append(await once(authed, ids["token"]))
            out["token"].append(median(a))
            out["no-auth"].append(median(b))
            out["pair ratio"].append(median([x / y for x, y in zip(a, b, strict=True)]))
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    calls, rounds = (20, 1) if args.quick else (200, 8)
    header(
        "bench/auth.py: sandbox_get over streamable HTTP, with a bearer token vs --no-auth",
        args,
        calls=f"{calls} per round x {rounds} rounds per server, alternating call by call",
    )
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        auth_db, open_db = Path(tmp, "auth.db"), Path(tmp, "open.db")
        token = make_token(auth_db)
        policy = unlimited_policy(Path(tmp))
        with (
            server(auth_db, "--policy", policy) as auth_url,
            server(open_db, "--no-auth", "--policy", policy) as open_url,
        ):
            m = anyio.run(run, auth_url, token, open_url, calls, rounds)
    with_token, without = median(m["token"]), median(m["no-auth"])
    print(f"  with a bearer token: median {with_token:.0f} us ({spread(m['token'])} round medians)")
    print(f"  --no-auth:           median {without:.0f} us ({spread(m['no-auth'])} round medians)")
    ratio = with_token / without
    pairs = median(m["pair ratio"])
    print(f"  ratio of medians: {ratio:.3f}x (authentication adds {with_token - without:.0f} us a call)")
    print(f"  median per-pair ratio: {pairs:.3f}x ({spread(m['pair ratio'])} round medians)")
    verdicts = Verdicts(args)
    verdicts.check("token / --no-auth < 1.10", ratio < TARGET_RATIO, f"{ratio:.3f}x")
    verdicts.exit()


if __name__ == "__main__":
    main()
