"""bypass_check and sandbox_spawn through the MCP client: the wiring around the engine.

The engine's logic has its own table (test_bypass_engine.py); here each criterion is
reached once through the tool, and what the use case adds is checked: the decision
log with the policy version, the secret paths found by cublab itself (never claimed by
the caller, never stored), the authority probed by cublab itself, the audit chain, and
refusals that name the field. What the evidence changes (declared incidents, sandboxes,
production ttls, stored decisions without values) is in test_bypass_evidence_tool.py."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.domain.identity import human_identity
from support.mcp import call, call_error, pairs
from support.runtime import AGENT

pytestmark = pytest.mark.anyio

# A literal password the secret gate recognises; it must never be stored anywhere.
SECRET_VALUE = "Tr0ub4dor-" + "x9Qz7Lk2"
SECRET_DOC = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"template": {"env": [{"name": "MODE", "value": "fast"}]}, "database": {"password": SECRET_VALUE}},
}


def audit_count(runtime, action: str | None = None) -> int:
    with sqlite3.connect(runtime.settings.db) as conn:
        if action is None:
            return conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        return conn.execute("SELECT count(*) FROM audit_event WHERE action = ?", (action,)).fetchone()[0]


def dump_database(path: str) -> str:
    """Every row of every table, as text: what an attacker with the file would read."""
    out = []
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                out.append(f"{table}: {row!r}")
    return "\n".join(out)


async def declare(client, runtime, incident_id: str) -> None:
    """Break-glass counts only for an incident declared with breakglass_declare (and open)."""
    runtime.review.import_unit("mw-prod", "web", {"replicas": 3}, human_identity("human:alice"), tier="production")
    await call(client, "breakglass_declare", incident_id=incident_id, reason="web is down", units=["mw-prod/web"])


def decision_row(runtime, decision_id: str) -> dict:
    with sqlite3.connect(runtime.settings.db) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM bypass_decision WHERE id = ?", (decision_id,)).fetchone())


# One change per criterion, as an agent would describe it: (arguments, verdict, criterion, reconciliation kind).
CRITERIA = [
    pytest.param(
        dict(
            context="staging",
            document=json.dumps(
                {
                    "kind": "TestEnvironment",
                    "metadata": {"name": "t", "labels": {"ephemeral": "true", "ttl": "2h", "bypass-confighub": "true"}},
                }
            ),
        ),
        "bypass",
        1,
        "none",
        "None",
        id="c1-ephemeral",
    ),
    pytest.param(dict(context="kind-dev", kind="Deployment", name="web"), "bypass", 2, "none", "None", id="c2-local"),
    pytest.param(
        dict(context="production", kind="Deployment", name="confighub-worker", namespace="confighub"),
        "bypass",
        3,
        "separate_bootstrap",
        "Bootstrap runbook with change log",
        id="c3-platform",
    ),
    pytest.param(
        dict(context="production", kind="Deployment", name="web", incident_id="INC-7"),
        "bypass_then_reconcile",
        4,
        "required",
        "Mandatory capture within 1 hour",
        id="c4-breakglass",
    ),
    pytest.param(
        dict(context="production", kind="Secret", name="oauth-client"),
        "bypass",
        5,
        "reference_only",
        "Secret management system's audit log",
        id="c5-secret-kind",
    ),
    pytest.param(
        dict(context="production", kind="Event", name="web.17a"),
        "bypass",
        6,
        "none",
        "Not configuration; no audit",
        id="c6-observed",
    ),
    pytest.param(
        dict(context="production", kind="ServiceMonitor", name="web"),
        "bypass",
        8,
        "optional",
        "Optional; bootstrap runbook",
        id="c8-observability",
    ),
    pytest.param(
        dict(context="production", kind="Deployment", name="web"), "use_confighub", None, None, None, id="use-confighub"
    ),
]


@pytest.mark.parametrize(("args", "verdict", "criterion", "reconciliation", "audit_requirement"), CRITERIA)
async def test_each_criterion_through_the_tool_is_logged_with_the_policy_version(
    client, runtime, args, verdict, criterion, reconciliation, audit_requirement
) -> None:
    if criterion == 4:
        await declare(client, runtime, args["incident_id"])
    answer = await call(client, "bypass_check", **args)
    assert answer["verdict"] == verdict
    assert (answer["criterion"] or {}).get("number") == criterion
    assert (answer["reconciliation"] or {}).get("kind") == reconciliation
    assert answer["audit_requirement"] == audit_requirement
    assert answer["path"] and answer["reasons"]
    if criterion == 4:
        assert answer["reconciliation"]["capture_within"] and answer["reconciliation"]["review_within"]
    assert answer["policy_version"] == runtime.policy.digest and answer["policy_version"].startswith("sha256:")
    row = decision_row(runtime, answer["decision_id"])
    assert row["verdict"] == verdict and row["criterion"] == criterion
    assert row["policy_digest"] == runtime.policy.digest
    assert row["actor"] == AGENT
    assert audit_count(runtime, "bypass.decide") == 1


async def test_criterion_7_cannot_be_claimed_through_bypass_check(client) -> None:
    """Only cublab's own sandboxes are agent experiments; a caller saying 'sandbox' gets criterion 1 at most."""
    answer = await call(client, "bypass_check", context="sandbox", kind="Sandbox", name="try", ttl="2h")
    assert answer["criterion"]["number"] == 1
    assert 7 not in [c["number"] for c in answer["also_matched"]]


async def test_literal_secret_names_paths_and_reference_and_is_never_stored(client, runtime) -> None:
    answer = await call(client, "bypass_check", context="staging", document=json.dumps(SECRET_DOC))
    criteria = (
        [answer["criterion"]["number"]] + [c["number"] for c in answer["also_matched"]]
        if answer["criterion"]
        else [c["number"] for c in answer["also_matched"]]
    )
    assert answer["criterion"]["number"] == 5, answer
    assert answer["verdict"] == "bypass" and 5 in criteria
    assert answer["secrets"]["paths"] == ["/spec/database/password"]
    assert answer["secrets"]["references"], "the answer names the reference to use instead"
    assert any("secretRef" in r or "vault://" in r for r in answer["secrets"]["references"])
    assert answer["secrets"]["managers"]
    result = await client.call_tool("bypass_check", {"context": "staging", "document": json.dumps(SECRET_DOC)})
    assert SECRET_VALUE not in str(result.structured_content) and SECRET_VALUE not in result.content[0].text
    dump = dump_database(runtime.settings.db)
    assert "bypass_decision" in dump and "/spec/database/password" in dump
    assert SECRET_VALUE not in dump


async def test_secret_in_labels_is_found_and_not_stored(client, runtime) -> None:
    labels = {"db-password": SECRET_VALUE, "team": "payments"}
    answer = await call(client, "bypass_check", context="staging", kind="ConfigMap", name="cm", labels=pairs(labels))
    assert answer["secrets"] and answer["secrets"]["paths"] == ["/labels/db-password"]
    dump = dump_database(runtime.settings.db)
    assert SECRET_VALUE not in dump and "payments" in dump


CLAIMS = [
    ("secret_paths", ["/spec/x"], 5),
    ("is_sandbox_experiment", True, 7),
    ("verified", {"confighub_reachable": False}, 4),
]


@pytest.mark.parametrize(("field", "value", "criterion"), CLAIMS)
async def test_caller_claims_of_what_cublab_computes_have_no_effect(client, runtime, field, value, criterion) -> None:
    """Whether the SDK refuses the argument or drops it, the claim never reaches the engine."""
    args = dict(context="sandbox", kind="Sandbox", name="try", ttl="2h", **{field: value})
    result = await client.call_tool("bypass_check", args)
    if result.is_error:
        assert field in result.content[0].text
        return
    answer = result.structured_content
    assert answer["secrets"] is None
    numbers = [answer["criterion"]["number"]] + [c["number"] for c in answer["also_matched"]]
    assert criterion not in numbers, answer
    assert '"secret_paths": []' in decision_row(runtime, answer["decision_id"])["subject"]


@pytest.mark.parametrize(("field", "value", "criterion"), CLAIMS)
async def test_caller_claims_of_what_cublab_computes_are_refused(client, field, value, criterion) -> None:
    message = await call_error(client, "bypass_check", context="sandbox", kind="Sandbox", ttl="2h", **{field: value})
    assert field in message


async def test_reachability_is_cublabs_own_probe(client, runtime) -> None:
    """cublab always probes the authority; a caller's "unreachable" while it answers is noted and overruled."""
    answer = await call(client, "bypass_check", context="staging", kind="ConfigMap", name="cm")
    assert answer["verdict"] == "use_confighub"
    (reach,) = [f for f in answer["facts"] if f["fact"] == "confighub_reachable"]
    assert reach == {
        "fact": "confighub_reachable",
        "claimed": None,
        "verified": "reachable",
        "used": "reachable",
        "basis": "verified",
    }
    down = await call(client, "bypass_check", context="staging", kind="ConfigMap", name="cm", confighub_reachable=False)
    assert down["verdict"] == "use_confighub" and down["criterion"] is None
    assert any("overruled" in r for r in down["reasons"])
    subject = decision_row(runtime, down["decision_id"])["subject"]
    assert '"confighub_reachable": false' in subject and '"verified": "reachable"' in subject


async def test_bypass_label_without_a_criterion_is_refused(client) -> None:
    answer = await call(
        client,
        "bypass_check",
        context="production",
        kind="Deployment",
        name="web",
        labels=pairs({"bypass-confighub": "true"}),
    )
    assert answer["verdict"] == "use_confighub" and answer["criterion"] is None
    assert answer["refused_label"] and "bypass-confighub" in answer["refused_label"]


async def test_ephemeral_label_with_ttl_over_the_maximum_is_not_ephemeral(client) -> None:
    labels = {"ephemeral": "true", "ttl": "5d", "bypass-confighub": "true"}
    answer = await call(client, "bypass_check", context="staging", kind="Deployment", name="web", labels=pairs(labels))
    assert answer["verdict"] == "use_confighub" and answer["criterion"] is None
    assert answer["refused_label"]
    assert any("72h" in r for r in answer["reasons"] + answer["path"])
    within = await call(
        client, "bypass_check", context="staging", kind="Deployment", name="web", labels=pairs({**labels, "ttl": "72h"})
    )
    assert within["criterion"]["number"] == 1


async def test_each_decision_is_audited_and_the_chain_verifies(client, runtime) -> None:
    for args, *_ in [p.values for p in CRITERIA]:
        await call(client, "bypass_check", **args)
    assert audit_count(runtime, "bypass.decide") == len(CRITERIA)
    with sqlite3.connect(runtime.settings.db) as conn:
        assert conn.execute("SELECT count(*) FROM bypass_decision").fetchone()[0] == len(CRITERIA)
    verify = CliRunner().invoke(cli_app, ["audit", "verify", "--db", runtime.settings.db])
    assert verify.exit_code == 0, verify.output


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (dict(context="staging", document=json.dumps({"blob": "x" * (1024 * 1024 + 10)})), "document"),
        (dict(context="staging", kind="Job", ttl="soon"), "ttl"),
        (dict(context="", kind="Job"), "context"),
        (dict(context="   ", kind="Job"), "context"),
        (dict(kind="Job"), "context"),
        (dict(context="preview", document='{"a": ' + "[" * 64 + "]" * 64 + "}"), "document: nested more than 64"),
        (dict(context="preview", document='{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"), "document: nested"),
    ],
)
async def test_bad_input_names_the_field_and_logs_nothing(client, runtime, args, field) -> None:
    message = await call_error(client, "bypass_check", **args)
    assert field in message
    assert audit_count(runtime) == 0


async def test_decisions_list_filters_by_verdict_and_criterion(client, runtime) -> None:
    await call(client, "bypass_check", context="kind-dev", kind="Deployment", name="local-web")
    await call(client, "bypass_check", context="production", kind="ServiceMonitor", name="scrape-web")
    await call(client, "bypass_check", context="production", kind="Deployment", name="prod-web")
    await declare(client, runtime, "INC-1")
    await call(client, "bypass_check", context="production", kind="Deployment", name="hot-fix", incident_id="INC-1")
    runner, db = CliRunner(), runtime.settings.db

    def listing(*extra: str) -> str:
        result = runner.invoke(cli_app, ["decisions", "list", "--db", db, *extra], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        return result.output

    everything = listing()
    assert all(n in everything for n in ("local-web", "scrape-web", "prod-web", "hot-fix"))
    bypassed = listing("--verdict", "bypass")
    assert (
        "local-web" in bypassed
        and "scrape-web" in bypassed
        and "prod-web" not in bypassed
        and "hot-fix" not in bypassed
    )
    assert "prod-web" in listing("--verdict", "use_confighub") and "local-web" not in listing(
        "--verdict", "use_confighub"
    )
    c8 = listing("--criterion", "8")
    assert "scrape-web" in c8 and "local-web" not in c8
    c4 = listing("--verdict", "bypass_then_reconcile", "--criterion", "4")
    assert "hot-fix" in c4 and "scrape-web" not in c4


# ---- sandbox_spawn through the engine -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (dict(context="production"), "context"),
        (dict(context="prod-eu-1"), "context"),
        (dict(context="kind-prod"), "context"),
        (dict(labels=pairs({"db-password": SECRET_VALUE})), "labels"),
        (dict(ttl="5d"), "ttl"),
        (dict(ttl="forever"), "ttl"),
    ],
)
async def test_sandbox_spawn_refuses_what_does_not_qualify_and_writes_nothing(client, runtime, args, field) -> None:
    before = audit_count(runtime)
    message = await call_error(client, "sandbox_spawn", name="try", purpose="tune memory", **args)
    assert field in message
    assert SECRET_VALUE not in message
    assert audit_count(runtime) == before == 0
    assert (await call(client, "sandbox_list"))["sandboxes"] == []
    assert SECRET_VALUE not in dump_database(runtime.settings.db)


async def test_normal_sandbox_is_criterion_7(client, runtime) -> None:
    sandbox = await call(client, "sandbox_spawn", name="try", purpose="tune memory", ttl="2h", context="kind-agent")
    assert sandbox["labels"]["bypass-confighub"] == "true"
    assert sandbox["labels"]["bypass-criterion"] == "agent-local-experimentation"
    assert sandbox["bypass_criterion"] == {"number": 7, "name": "Agent-Local Experimentation"}
    assert sandbox["labels"]["ttl"] == "2h"
    with sqlite3.connect(runtime.settings.db) as conn:
        details = conn.execute("SELECT details FROM audit_event WHERE action = 'sandbox.spawn'").fetchone()[0]
    assert '"criterion": 7' in details and runtime.policy.digest in details


GITHUB_TOKEN = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"


@pytest.mark.parametrize("field", ["name", "kind", "namespace", "space", "context", "incident_id"])
async def test_literal_secret_in_a_described_field_is_refused_and_not_stored(client, runtime, field) -> None:
    args = dict(context="staging", kind="ConfigMap", name="cm")
    args[field] = f"x-{GITHUB_TOKEN}"
    message = await call_error(client, "bypass_check", **args)
    assert field in message and GITHUB_TOKEN not in message
    assert GITHUB_TOKEN not in dump_database(runtime.settings.db)
    assert audit_count(runtime) == 0


async def test_literal_secret_in_the_sandbox_context_is_refused_and_not_stored(client, runtime) -> None:
    message = await call_error(
        client, "sandbox_spawn", name="try", purpose="p", ttl="2h", context=f"kind-{GITHUB_TOKEN}"
    )
    assert "context" in message and GITHUB_TOKEN not in message
    assert GITHUB_TOKEN not in dump_database(runtime.settings.db)


async def test_decisions_are_logged_on_every_database(any_client, any_runtime) -> None:
    answer = await call(any_client, "bypass_check", context="production", document=json.dumps(SECRET_DOC), persist=True)
    assert answer["criterion"]["number"] == 5 and "/spec/database/password" in answer["secrets"]["paths"]
    (logged,) = any_runtime.bypass.decisions(criterion=5)
    assert logged.id == answer["decision_id"] and logged.policy_digest == answer["policy_version"]
    assert SECRET_VALUE not in str(logged.subject) + str(logged.reasons) + str(logged.path)
