"""The pieces of HTTP authentication that are rules, as tables: who an issuer's token names, what a caller's
grant reaches, which binds may go unauthenticated, the request-rate bucket, and that a cublab token is a secret."""

from __future__ import annotations

import secrets

import pytest

from cublab.app.tokens import TOKEN_PREFIX, check_toolsets, looks_like_token
from cublab.auth import Caller, issuer_identity
from cublab.domain.errors import InvalidInput
from cublab.domain.identity import Identity
from cublab.domain.secrets import find_secrets_in_text
from cublab.httpserver import HttpOptions, RateLimit, is_loopback


@pytest.mark.parametrize(
    ("claims", "identity"),
    [
        ({"sub": "agent:review-bot-ci"}, "agent:review-bot-ci"),
        ({"sub": "build-7", "client_id": "ci-bot"}, "agent:ci-bot-build.7"),
        ({"sub": "build-7", "azp": "CI Bot"}, "agent:ci.bot-build.7"),
        ({"sub": "Alice@Example.com"}, "agent:alice.example.com-alice.example.com"),
        ({"client_id": "ci-bot"}, "agent:ci-bot-oauth"),
        ({"sub": "agent:no-session-", "client_id": "x"}, None),  # an agent identity that does not parse
        ({"sub": "human:carol"}, "agent:human.carol-human.carol"),  # never a human identity
        ({}, None),
        ({"sub": "***"}, None),
    ],
)
def test_issuer_identity(claims: dict, identity: str | None) -> None:
    found = issuer_identity(claims)
    assert (found.value if found else None) == identity
    assert found is None or found.is_agent


@pytest.mark.parametrize(
    ("write", "toolsets", "toolset", "read_only", "allowed"),
    [
        (True, None, "sandboxes", False, True),
        (True, None, "sandboxes", True, True),
        (False, None, "sandboxes", True, True),
        (False, None, "sandboxes", False, False),
        (True, {"policy"}, "sandboxes", True, False),
        (True, {"policy", "sandboxes"}, "sandboxes", False, True),
        (False, {"policy"}, "policy", True, True),
    ],
)
def test_what_a_caller_reaches(write, toolsets, toolset, read_only, allowed) -> None:
    caller = Caller(Identity("agent", "agent:a-b"), write, frozenset(toolsets) if toolsets else None)
    assert caller.may_use(toolset, read_only) is allowed
    if not allowed:
        message = caller.refusal("some_tool", toolset, read_only)
        assert "some_tool" in message and ("read scope" in message or toolset in message)


@pytest.mark.parametrize(
    ("host", "no_auth", "starts"),
    [
        ("127.0.0.1", True, True),
        ("127.0.0.2", True, True),
        ("::1", True, True),
        ("localhost", True, True),
        ("0.0.0.0", True, False),
        ("::", True, False),
        ("192.0.2.10", True, False),
        ("cublab.example.com", True, False),
        ("0.0.0.0", False, True),
    ],
)
def test_unauthenticated_binds(host: str, no_auth: bool, starts: bool) -> None:
    options = HttpOptions(host=host, no_auth=no_auth)
    if starts:
        options.check()
    else:
        with pytest.raises(InvalidInput, match="loopback"):
            options.check()
    assert is_loopback(host) is (host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))


def test_no_auth_and_an_issuer_contradict() -> None:
    with pytest.raises(InvalidInput, match="contradict"):
        HttpOptions(no_auth=True, auth_issuer="https://login.example.com").check()
    with pytest.raises(InvalidInput, match="--auth-issuer"):
        HttpOptions(auth_issuer="login.example.com").check()


def test_the_request_bucket() -> None:
    now = [100.0]
    bucket = RateLimit(app=None, per_minute=60, burst=3, clock=lambda: now[0])  # type: ignore[arg-type]
    assert [bucket._take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket._take("a") == pytest.approx(1.0)  # one a second refills
    assert bucket._take("b") == 0.0  # another caller has its own bucket
    now[0] += 0.5
    assert bucket._take("a") == pytest.approx(0.5)
    now[0] += 10
    assert [bucket._take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to the burst, no further
    assert bucket._take("a") > 0


def test_the_bucket_forgets_the_least_recent_callers() -> None:
    bucket = RateLimit(app=None, per_minute=60, burst=1)  # type: ignore[arg-type]
    bucket.MAX_CALLERS = 3
    for key in "abcd":
        bucket._take(key)
    assert list(bucket.buckets) == ["b", "c", "d"]


def test_a_cublab_token_is_a_secret_and_its_id_is_not() -> None:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert looks_like_token(token) and not looks_like_token(token[:-1]) and not looks_like_token("x" + token[1:])
    assert [f.kind for f in find_secrets_in_text(f"use {token} please")] == ["cublab-token"]
    assert find_secrets_in_text("revoke tok_01m8e2kegdj4gj45wxzw44wjne") == []


def test_toolset_names() -> None:
    assert check_toolsets(None) is None and check_toolsets([]) is None
    assert check_toolsets(["policy,sandboxes", " Experiments "]) == ("sandboxes", "experiments", "policy")
    with pytest.raises(InvalidInput, match="unknown toolset"):
        check_toolsets(["sandbox"])


def test_every_tool_is_in_a_known_toolset() -> None:
    from cublab.app.tokens import TOOLSETS
    from cublab.mcp_server import TOOLS

    assert {spec.toolset for spec in TOOLS} == set(TOOLSETS)
