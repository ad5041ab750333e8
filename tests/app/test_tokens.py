"""Tokens as the use case keeps them (app/tokens.py): only a hash at rest, a constant-time comparison, expiry by
the clock, revocation at once, humans only, every change audited without the value."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from cublab.app import tokens as tokens_module
from cublab.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from cublab.domain.identity import human_identity, parse_identity
from cublab.runtime import Runtime
from support.audit import events

LEAD = human_identity("human:lead")
AGENT = parse_identity("agent:claude-code-alice")


def test_only_the_hash_is_stored_and_verification_compares_in_constant_time(runtime: Runtime, monkeypatch) -> None:
    issued = runtime.tokens.create(AGENT, LEAD, "write", "30d", ["experiments"])
    with runtime.ctx.db.engine.connect() as conn:
        [row] = conn.execute(sa.text("SELECT * FROM agent_token")).mappings().all()
    assert row["token_hash"] == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in str(dict(row)) and issued.token[7:] not in str(dict(row))
    compared: list[tuple[str, str]] = []
    real = tokens_module.hmac.compare_digest
    monkeypatch.setattr(tokens_module.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    grant = runtime.tokens.verify(issued.token)
    assert grant is not None and grant.agent == AGENT.value and grant.scope == "write"
    assert grant.toolsets == ("experiments",)
    assert compared == [(row["token_hash"], row["token_hash"])]
    [event] = [e for e in events(runtime) if e["action"] == "token.create"]
    assert event["actor"] == "human:lead" and event["object_id"] == issued.info.id
    assert issued.token not in str(event) and row["token_hash"] not in str(event)


@pytest.mark.parametrize(
    "presented",
    ["", "cublab_", "Bearer x", "cublab_" + "A" * 43, "cublab_" + "A" * 44, "tok_01m8e2kegdj4gj45wxzw44wjne", "é" * 50],
)
def test_what_is_not_a_valid_token(runtime: Runtime, presented: str) -> None:
    runtime.tokens.create(AGENT, LEAD)
    assert runtime.tokens.verify(presented) is None


def test_expiry_and_revocation(runtime: Runtime, clock) -> None:
    short = runtime.tokens.create(AGENT, LEAD, "read", "1h")
    forever = runtime.tokens.create(AGENT, LEAD, "write", "never")
    assert forever.info.expires_at is None
    default = runtime.tokens.create(AGENT, LEAD)
    assert (default.info.expires_at - default.info.created_at).days == 90
    clock.advance(minutes=59)
    assert runtime.tokens.verify(short.token) is not None
    clock.advance(minutes=2)
    assert runtime.tokens.verify(short.token) is None
    assert runtime.tokens.verify(forever.token) is not None
    assert {t.id for t in runtime.tokens.list()} == {forever.info.id, default.info.id}
    runtime.tokens.revoke(forever.info.id, LEAD)
    assert runtime.tokens.verify(forever.token) is None
    with pytest.raises(Conflict, match="already revoked"):
        runtime.tokens.revoke(forever.info.id, LEAD)
    statuses = {t.id: t.status(clock()) for t in runtime.tokens.list(include_inactive=True)}
    assert statuses == {short.info.id: "expired", forever.info.id: "revoked", default.info.id: "active"}
    assert [e["action"] for e in events(runtime)].count("token.revoke") == 1


def test_refusals(runtime: Runtime) -> None:
    with pytest.raises(Forbidden, match="humans"):
        runtime.tokens.create(AGENT, parse_identity("agent:other-one"))
    with pytest.raises(Forbidden, match="agents"):
        runtime.tokens.create(human_identity("human:bob"), LEAD)
    with pytest.raises(InvalidInput, match="scope"):
        runtime.tokens.create(AGENT, LEAD, "admin")
    with pytest.raises(InvalidInput, match="expires"):
        runtime.tokens.create(AGENT, LEAD, "read", "soon")
    with pytest.raises(InvalidInput, match="unknown toolset"):
        runtime.tokens.create(AGENT, LEAD, "read", None, ["sandboxes", "admin"])
    with pytest.raises(InvalidInput, match="token id"):
        runtime.tokens.revoke("cublab_secret", LEAD)
    with pytest.raises(NotFound):
        runtime.tokens.revoke("tok_01m8e2kegdj4gj45wxzw44wjne", LEAD)
    with pytest.raises(Forbidden):
        runtime.tokens.revoke("tok_01m8e2kegdj4gj45wxzw44wjne", AGENT)
    assert runtime.tokens.list(include_inactive=True) == []


@pytest.mark.anyio
async def test_the_sdk_verifier_on_every_database(any_runtime: Runtime) -> None:
    """LocalTokens reads SQLite on the event loop and PostgreSQL on a worker thread; the answer is the same."""
    from cublab.auth import SCOPE_READ, SCOPE_WRITE, TOOLSETS_CLAIM, LocalTokens

    verifier = LocalTokens(any_runtime)
    write = any_runtime.tokens.create(AGENT, LEAD, "write", "1h")
    read = any_runtime.tokens.create(AGENT, LEAD, "read", "1h", ["policy"])
    granted = await verifier.verify_token(write.token)
    assert granted is not None and granted.client_id == AGENT.value and granted.scopes == [SCOPE_READ, SCOPE_WRITE]
    assert granted.expires_at == int(write.info.expires_at.timestamp()) and granted.claims is None
    narrow = await verifier.verify_token(read.token)
    assert narrow is not None and narrow.scopes == [SCOPE_READ] and narrow.claims == {TOOLSETS_CLAIM: ["policy"]}
    assert verifier._inline is (any_runtime.ctx.db.is_sqlite)
    any_runtime.tokens.revoke(write.info.id, LEAD)
    assert await verifier.verify_token(write.token) is None
    assert await verifier.verify_token("cublab_" + "x" * 43) is None
