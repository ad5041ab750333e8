"""bypass_check through MCP: the answer rests on what cublab checks, never on what the caller claims.

A production change with ephemeral labels and a ttl gets no bypass; an undeclared incident is
told to declare and creates nothing; a declared one is recognised; a live sandbox gives
criterion 7 and a destroyed or expired one does not; the space's tier comes from the authority;
and the stored decision row holds nothing derived from a flagged value."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cublab.authority.embedded import EmbeddedAuthority
from cublab.domain.identity import human_identity
from support.mcp import call, call_error, pairs

pytestmark = pytest.mark.anyio

ALICE = human_identity("human:alice")
GITHUB_TOKEN = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"
PASSWORD = "Tr0ub4dor-" + "x9Qz7Lk2"
PROD_WEB = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "messagewall", "labels": {"ephemeral": "true", "ttl": "6h"}},
    "spec": {"replicas": 3},
}


def rows(runtime, table: str) -> list[tuple]:
    with sqlite3.connect(runtime.settings.db) as conn:
        return conn.execute(f'SELECT * FROM "{table}"').fetchall()


def decision_row(runtime, decision_id: str) -> str:
    with sqlite3.connect(runtime.settings.db) as conn:
        return repr(conn.execute("SELECT * FROM bypass_decision WHERE id = ?", (decision_id,)).fetchone())


def fact(answer: dict, name: str) -> dict:
    (found,) = [f for f in answer["facts"] if f["fact"] == name]
    return found


def numbers(answer: dict) -> list[int]:
    return ([answer["criterion"]["number"]] if answer["criterion"] else []) + [
        c["number"] for c in answer["also_matched"]
    ]


async def test_a_production_change_with_ephemeral_labels_and_a_ttl_gets_no_bypass(client) -> None:
    for ttl in ("6h", "48h"):
        doc = {**PROD_WEB, "metadata": {**PROD_WEB["metadata"], "labels": {"ephemeral": "true", "ttl": ttl}}}
        answer = await call(client, "bypass_check", context="production", document=json.dumps(doc))
        assert answer["verdict"] == "use_confighub" and answer["criterion"] is None, answer["path"]
        assert 1 not in numbers(answer)
        assert any(
            f"The ttl {ttl} (label ttl) was ignored: production is never ephemeral" in r for r in answer["reasons"]
        )


async def test_a_production_fix_with_an_undeclared_incident_and_a_ttl_must_declare_and_creates_nothing(
    client, runtime
) -> None:
    for incident_id in ("INC-404", "n/a"):
        answer = await call(
            client,
            "bypass_check",
            context="production",
            document=json.dumps(PROD_WEB),
            incident_id=incident_id,
            ttl="1h",
        )
        assert answer["verdict"] == "use_confighub" and answer["must_declare_incident"] is True
        assert any("breakglass_declare" in r for r in answer["reasons"])
        assert not any("needs no capture" in r for r in answer["reasons"])
        assert fact(answer, "incident") == {
            "fact": "incident",
            "claimed": incident_id,
            "verified": "undeclared",
            "used": "not counted",
            "basis": "verified",
        }
    assert rows(runtime, "incident") == [] and rows(runtime, "obligation") == []
    assert [r for r in rows(runtime, "audit_event") if "bypass.decide" not in repr(r)] == []


async def test_a_declared_incident_is_recognised_and_outranks_the_ttl(client, runtime) -> None:
    runtime.review.import_unit("mw-prod", "web", {"replicas": 3}, ALICE, tier="production")
    await call(client, "breakglass_declare", incident_id="INC-7", reason="web is down", units=["mw-prod/web"])
    answer = await call(
        client,
        "bypass_check",
        context="production",
        space="mw-prod",
        document=json.dumps(PROD_WEB),
        incident_id="INC-7",
        ttl="1h",
    )
    assert answer["verdict"] == "bypass_then_reconcile" and answer["criterion"]["number"] == 4, answer["path"]
    assert answer["must_declare_incident"] is False and answer["reconciliation"]["must_declare_incident"] is False
    assert answer["reconciliation"]["capture_within"]
    assert fact(answer, "incident")["verified"] == "open" and fact(answer, "incident")["basis"] == "verified"
    assert fact(answer, "production")["verified"] == "tier production"


async def test_cublab_unreachable_without_an_incident_is_break_glass_that_must_declare(client, monkeypatch) -> None:
    monkeypatch.setattr(EmbeddedAuthority, "reachable", lambda self: False)  # cublab's own probe fails
    answer = await call(client, "bypass_check", context="staging", kind="ConfigMap", name="cm")
    claimed_up = await call(
        client, "bypass_check", context="staging", kind="ConfigMap", name="cm", confighub_reachable=True
    )
    assert answer["verdict"] == "bypass_then_reconcile" and answer["must_declare_incident"] is True
    assert fact(answer, "confighub_reachable")["verified"] == "unreachable"
    assert claimed_up["verdict"] == "use_confighub"
    assert any("decided under both readings" in r for r in claimed_up["reasons"])


async def test_a_space_tier_production_in_the_authority_is_production_whatever_the_names(client, runtime) -> None:
    runtime.review.import_unit("payments", "web", {"replicas": 3}, ALICE, tier="production")
    answer = await call(client, "bypass_check", context="kind-payments", space="payments", kind="Deployment", ttl="2h")
    assert answer["context_class"] == "production" and answer["verdict"] == "use_confighub"
    assert not set(numbers(answer)) & {1, 2, 7}
    assert fact(answer, "production")["basis"] == "verified"
    local = await call(client, "bypass_check", context="kind-payments", space="payments-dev", kind="Deployment")
    assert local["criterion"]["number"] == 2 and fact(local, "production")["verified"] == "no tier label"


async def test_a_live_sandbox_gives_criterion_7_and_a_destroyed_or_expired_one_does_not(client, clock) -> None:
    live = await call(client, "sandbox_spawn", name="try", purpose="tune memory", ttl="2h", context="kind-agent")
    args = dict(
        context="staging",
        kind="Deployment",
        name="web",
        document=json.dumps({"kind": "Deployment", "spec": {"replicas": 2}}),
    )
    answer = await call(client, "bypass_check", sandbox_id=live["id"], **args)
    assert answer["verdict"] == "bypass" and answer["criterion"]["number"] == 7, answer["path"]
    assert answer["reconciliation"]["kind"] == "winning_variant_proposal"
    assert any("variant_promote" in step for step in answer["reconciliation"]["steps"])
    assert any("the winning variant becomes a proposal via variant_promote" in r for r in answer["reasons"])
    assert fact(answer, "sandbox") == {
        "fact": "sandbox",
        "claimed": live["id"],
        "verified": "active",
        "used": "a live cublab sandbox",
        "basis": "verified",
    }
    in_production = await call(client, "bypass_check", sandbox_id=live["id"], **{**args, "context": "production"})
    assert 7 not in numbers(in_production)

    gone = await call(client, "sandbox_spawn", name="gone", purpose="p", ttl="2h")
    await call(client, "sandbox_destroy", sandbox_id=gone["id"])
    destroyed = await call(client, "bypass_check", sandbox_id=gone["id"], **args)
    assert 7 not in numbers(destroyed) and destroyed["verdict"] == "use_confighub"
    assert any("it is destroyed" in r for r in destroyed["reasons"])

    clock.advance(hours=3)
    expired = await call(client, "bypass_check", sandbox_id=live["id"], **args)
    assert 7 not in numbers(expired) and any("it is expired" in r for r in expired["reasons"])


async def test_a_sandbox_id_that_names_nothing_is_no_sandbox_and_a_malformed_one_is_refused(client) -> None:
    unknown = await call(client, "bypass_check", context="staging", kind="Job", sandbox_id="sbx_" + "0" * 26)
    assert 7 not in numbers(unknown) and any("no such sandbox" in r for r in unknown["reasons"])
    message = await call_error(client, "bypass_check", context="staging", kind="Job", sandbox_id="not-an-id")
    assert "sandbox_id" in message


@pytest.mark.parametrize(
    ("labels", "literal"),
    [
        ({"ttl": GITHUB_TOKEN, "team": "payments"}, GITHUB_TOKEN),
        ({"example.com/db-password": PASSWORD, "team": "payments"}, PASSWORD),
        ({"app.kubernetes.io/name": f"argocd-{GITHUB_TOKEN}"}, GITHUB_TOKEN),
    ],
    ids=["secret-in-ttl-label", "flagged-key-with-slash", "secret-in-a-matched-label"],
)
async def test_the_stored_decision_holds_nothing_derived_from_a_flagged_label(client, runtime, labels, literal) -> None:
    answer = await call(client, "bypass_check", context="staging", kind="ConfigMap", name="cm", labels=pairs(labels))
    assert answer["secrets"] is not None and answer["secrets"]["paths"]
    stored = decision_row(runtime, answer["decision_id"])
    assert literal not in stored and literal not in repr(answer)
    assert all(path in stored for path in answer["secrets"]["paths"])
    if "team" in labels:
        assert "payments" in stored  # what is not flagged is still logged


async def test_the_stored_decision_holds_nothing_derived_from_a_flagged_document_value(client, runtime) -> None:
    doc = {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": f"prod-{GITHUB_TOKEN}"},
        "spec": {"database": {"password": PASSWORD}},
    }
    answer = await call(client, "bypass_check", context="staging", document=json.dumps(doc))
    stored = decision_row(runtime, answer["decision_id"])
    assert GITHUB_TOKEN not in stored and PASSWORD not in stored and GITHUB_TOKEN not in repr(answer)


async def test_the_decision_log_records_per_fact_whether_it_was_verified_or_claimed(client, runtime) -> None:
    answer = await call(
        client, "bypass_check", context="staging", kind="ConfigMap", confighub_reachable=False, incident_id="INC-9"
    )
    stored = decision_row(runtime, answer["decision_id"])
    assert '"evidence"' in stored
    for f in answer["facts"]:
        assert f'"fact": "{f["fact"]}"' in stored and f'"basis": "{f["basis"]}"' in stored
