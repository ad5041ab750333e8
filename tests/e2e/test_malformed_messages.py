"""Every message gets an answer on every transport, and `serve --http` reports its health.

Over stdio the SDK's reader drops a line it cannot parse without answering it (a request nested about 200
levels deep is one); cublab answers it with a JSON-RPC error (cublab/stdio.py). Streamable HTTP answers with a
400 and a JSON-RPC parse error. stderr carries one record per line (JSON lines with --log-format json).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from support.runtime import AGENT, POSTGRES_ENV, drop_schema, postgres_schema_url
from support.serve import HttpServer, child_env, cublab_command, serve_http

START_TIMEOUT = 30.0


def deep_call(request_id: int, levels: int = 300) -> str:
    nested = '{"x": ' * levels + '{"a": 1}' + "}" * levels  # written out: json.dumps itself stops near 1,000 levels
    return (
        f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", '
        f'"params": {{"name": "sandbox_get", "arguments": {{"sandbox_id": {nested}}}}}}}'
    )


def test_stdio_answers_every_line(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [*cublab_command(), "serve", "--db", str(tmp_path / "c.db"), "--agent", AGENT, "--log-format", "json"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**child_env(), "CUBLAB_LOG_LEVEL": "INFO"},
        )
    try:

        def send(line: str) -> None:
            proc.stdin.write(line + "\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]

        def answer() -> dict[str, Any]:
            ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
            assert ready, "a message was left unanswered"
            return json.loads(proc.stdout.readline())  # type: ignore[union-attr]

        send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "0"},
                    },
                }
            )
        )
        assert answer()["id"] == 1
        send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))

        send(deep_call(5))
        refused = answer()
        assert refused["id"] == 5 and refused["error"]["code"] == -32600, refused
        assert "nested too deeply" in refused["error"]["message"]

        send(deep_call(6, levels=2000))  # deeper than Python's own parser: the id is still found
        assert answer()["id"] == 6

        send("this is not json")
        garbage = answer()
        assert garbage["id"] is None and garbage["error"]["code"] == -32700, garbage

        send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}))
        assert "sandbox_spawn" in {t["name"] for t in answer()["result"]["tools"]}  # still serving
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # every record one JSON object on one line (the multi-line traceback of the failing calls included)
    lines = [line for line in stderr.read_text().splitlines() if line.strip()]
    assert any("malformed" in json.loads(line)["message"] for line in lines), lines
    for line in lines:
        assert json.loads(line)["level"], line


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    tmp = tmp_path_factory.mktemp("http")
    with serve_http(str(tmp / "c.db"), AGENT, tmp / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def http_base(http_server: HttpServer) -> str:
    return http_server.base


def test_http_answers_a_deeply_nested_message(http_server: HttpServer) -> None:
    response = httpx2.post(
        http_server.url,
        content=deep_call(5),
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **http_server.headers(AGENT),
        },
        timeout=START_TIMEOUT,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


def test_healthz_reports_a_healthy_server(http_base: str) -> None:
    response = httpx2.get(f"{http_base}/healthz", timeout=START_TIMEOUT)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] and report["database"]["ok"] and report["migrations"]["ok"] and report["authority"]["ok"]


def test_healthz_is_503_when_the_database_is_read_only(tmp_path: Path) -> None:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL variant not run")
    url, schema = postgres_schema_url(base)
    try:
        read_only = url.replace("options=-csearch_path", "options=-cdefault_transaction_read_only%3Don%20-csearch_path")
        # the schema is migrated first, writable, so only writability fails
        from support.runtime import make_runtime

        make_runtime(url).ctx.db.dispose()
        with serve_http(read_only, AGENT, tmp_path / "server.log") as server:
            response = httpx2.get(server.base + "/healthz", timeout=START_TIMEOUT)
            assert response.status_code == 503, response.text
            report = response.json()
            assert not report["ok"] and report["migrations"]["ok"]
            assert "database_read_only" in report["database"]["detail"] and report["database"]["retryable"] is False
    finally:
        drop_schema(base, schema)
