"""The guard's use case with the embedded authority: commands in, allow/deny/ask out, every answer logged.

A table of commands, each with the files it applies, the kubeconfig it would use, and the
incident or sandbox it runs under, checked against the verdict and the criterion; then what
the decision log holds (the command, redacted; the agent), that a read-only command never
touches the authority, and that the guard and bypass_check give the same engine answer."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cublab.app.inputs import BypassCheck, DeclareBreakGlass, DestroySandbox, SpawnSandbox
from cublab.domain.guard import HUMAN_PATH, UNKNOWN_PATH, VARIANT_PATH
from support.runtime import AGENT

PASSWORD = "Tr0ub4dor-" + "x9Qz7Lk2"
TOKEN = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"
FILES = {
    "web.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {replicas: 2}\n",
    "db.yaml": f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: db}}\nspec:\n  env:\n    DB_PASSWORD: {PASSWORD}\n",
    "secret.yaml": f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData:\n  password: {PASSWORD}\n",
    "monitor.yaml": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: web}\nspec: {}\n",
    "testenv.yaml": 'kind: TestEnvironment\nmetadata:\n  name: pr-7\n  labels: {ephemeral: "true", ttl: "2h", bypass-confighub: "true"}\n',
    "vault.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: vault://secret/db#password\n",
}


@pytest.fixture
def guard(runtime, tmp_path: Path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)

    def check(command: str | list[str], *, current: str | None = None, **kw: Any):
        kubeconfig = tmp_path / "kubeconfig"
        if current is not None:
            kubeconfig.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: {current}\n")
        elif kubeconfig.exists():
            kubeconfig.unlink()
        return runtime.guard.check(command, runtime.agent, cwd=str(tmp_path), env={"KUBECONFIG": str(kubeconfig)}, **kw)

    return check


TABLE = [
    # (command, current kube context, verdict, criterion, governed path starts with)
    ("kubectl apply -f web.yaml --context kind-dev", None, "allow", 2, None),
    ("kubectl apply -f web.yaml", "kind-dev", "allow", 2, None),
    ("kubectl apply -f web.yaml", "minikube", "allow", 2, None),
    ("kubectl delete deploy/web -n shop", "docker-desktop", "allow", 2, None),
    ("kubectl apply -f web.yaml --context prod-eu", None, "deny", None, VARIANT_PATH),
    ("kubectl apply -f web.yaml", "prod-eu", "deny", None, VARIANT_PATH),
    ("kubectl apply -f web.yaml", None, "deny", None, VARIANT_PATH),  # no kubeconfig: an unknown context
    ("kubectl apply -f web.yaml --context staging", None, "deny", None, VARIANT_PATH),
    ("kubectl --context kind-prod apply -f web.yaml", None, "deny", None, VARIANT_PATH),  # production wins the tie
    ("kubectl apply -f testenv.yaml --context staging", None, "allow", 1, None),
    ("kubectl apply -f testenv.yaml --context prod", None, "deny", None, VARIANT_PATH),
    ("kubectl apply -f web.yaml --context ci-4711", None, "allow", 1, None),
    ("kubectl apply -f monitor.yaml --context prod", None, "allow", 8, None),
    (
        "helm install prometheus prometheus-community/kube-prometheus-stack -n monitoring --kube-context prod",
        None,
        "allow",
        8,
        None,
    ),
    (
        "helm upgrade --install cert-manager jetstack/cert-manager -n cert-manager --kube-context prod",
        None,
        "allow",
        3,
        None,
    ),
    ("helm upgrade web ./chart --kube-context prod", None, "deny", None, VARIANT_PATH),
    ("helm upgrade web ./chart", "kind-dev", "allow", 2, None),
    ("kubectl apply -f secret.yaml --context prod", None, "allow", 5, None),
    ("kubectl apply -f vault.yaml --context prod", None, "deny", None, VARIANT_PATH),
    ("kubectl apply -f db.yaml --context prod", None, "deny", None, "Put a reference in the configuration"),
    (f"kubectl create secret generic db --from-literal=password={PASSWORD} --context prod", None, "allow", 5, None),
    ("kubectl get secrets -o yaml --context prod", None, "allow", None, None),
    ("kubectl get pods && kubectl delete ns web --context prod", None, "deny", None, VARIANT_PATH),
    ("kubectl delete ns scratch --context kind-a; kubectl get pods", None, "allow", 2, None),
    ("cat <<EOF | kubectl apply -f -\nkind: ServiceMonitor\nmetadata: {name: x}\nEOF", "prod", "allow", 8, None),
    ("kubectl --context $CTX apply -f web.yaml", None, "deny", None, UNKNOWN_PATH),
    ("kubectl get pods -o name | xargs kubectl delete", "kind-dev", "deny", None, UNKNOWN_PATH),
    ("kubectl frobnicate --context kind-dev", None, "deny", None, UNKNOWN_PATH),
    ("echo 'unbalanced", None, "deny", None, UNKNOWN_PATH),
    ("pulumi up --yes", None, "deny", None, UNKNOWN_PATH),
    ("find . -exec kubectl apply -f {} \\;", None, "deny", None, UNKNOWN_PATH),
    ("ls -la && git status", None, "allow", None, None),
    ("cub unit get web --space shop-prod", None, "allow", None, None),
    ("cub unit update web web.yaml --space shop-prod", None, "deny", None, VARIANT_PATH),
    ("cub unit apply web --space shop-prod", None, "deny", None, HUMAN_PATH),
    ("cub unit approve web --space shop-dev", None, "deny", None, HUMAN_PATH),
    ("terraform plan", None, "allow", None, None),
    ("terraform apply -auto-approve", None, "deny", None, VARIANT_PATH),
    ("TF_WORKSPACE=prod terraform destroy", None, "deny", None, VARIANT_PATH),
    ("aws --endpoint-url http://localhost:4566 s3api create-bucket --bucket b", None, "allow", 2, None),
    ("aws --profile prod lambda update-function-configuration --function-name f", None, "deny", None, VARIANT_PATH),
    ("aws ec2 describe-instances --profile prod", None, "allow", None, None),
    (f"aws secretsmanager put-secret-value --secret-id db --secret-string {PASSWORD}", None, "allow", 5, None),
    ("sudo bash -c 'kubectl scale deploy web --replicas=0 --context prod'", None, "deny", None, VARIANT_PATH),
    ("if kubectl get ns x; then kubectl delete ns x --context prod; fi", None, "deny", None, VARIANT_PATH),
    ("for f in *.yaml; do kubectl apply -f $f --context kind-a; done", None, "deny", None, UNKNOWN_PATH),
]


@pytest.mark.parametrize(("command", "current", "verdict", "criterion", "path"), TABLE, ids=[c[:70] for c, *_ in TABLE])
def test_the_guard_answers_each_command(guard, command, current, verdict, criterion, path) -> None:
    answer = guard(command, current=current)
    assert answer.verdict == verdict, (answer.reason, [t.reason for t in answer.targets])
    assert (answer.criterion.number if answer.criterion else None) == criterion, answer.reason
    if path is None:
        assert answer.governed_path is None
    else:
        assert answer.governed_path is not None and answer.governed_path.startswith(path[:40]), answer.governed_path
    assert answer.exit_code == {"allow": 0, "deny": 1, "ask": 2}[verdict]
    assert answer.decision_id.startswith("dec_") and answer.agent == AGENT


def test_a_live_sandbox_allows_criterion_7_and_a_destroyed_one_does_not(runtime, guard) -> None:
    sandbox = runtime.sandboxes.spawn(SpawnSandbox(name="cache", purpose="try cache sizes", ttl="2h"), runtime.agent)
    live = guard("kubectl apply -f web.yaml --context staging", sandbox_id=sandbox.id)
    assert live.verdict == "allow" and live.criterion is not None and live.criterion.number == 7
    prod = guard("kubectl apply -f web.yaml --context prod", sandbox_id=sandbox.id)
    assert prod.verdict == "deny"  # a production context never qualifies as a sandbox
    runtime.sandboxes.destroy(DestroySandbox(sandbox_id=sandbox.id), runtime.agent)
    gone = guard("kubectl apply -f web.yaml --context staging", sandbox_id=sandbox.id)
    assert gone.verdict == "deny" and gone.governed_path == VARIANT_PATH
    unknown = guard("kubectl apply -f web.yaml --context staging", sandbox_id="sbx_01aaaaaaaaaaaaaaaaaaaaaaaa")
    assert unknown.verdict == "deny"


def test_an_incident_must_be_declared_and_then_a_human_confirms(runtime, guard) -> None:
    undeclared = guard("kubectl apply -f web.yaml --context prod", incident_id="INC-7")
    assert undeclared.verdict == "deny" and undeclared.must_declare_incident
    assert undeclared.governed_path is not None and "breakglass_declare" in undeclared.governed_path
    runtime.review.import_unit("shop-prod", "web", {"replicas": 2}, _human(), tier="production")
    runtime.breakglass.declare(
        DeclareBreakGlass(incident_id="INC-7", reason="OOM loop in web", units=["shop-prod/web"]), runtime.agent
    )
    declared = guard("kubectl apply -f web.yaml --context prod", incident_id="INC-7")
    assert declared.verdict == "ask" and declared.criterion is not None and declared.criterion.number == 4
    assert declared.reconciliation is not None and declared.reconciliation.kind == "required"
    assert declared.reconciliation.capture_within is not None
    assert "captured within 1h" in declared.reason
    assert declared.exit_code == 2
    # A local change needs no incident: break-glass does not apply to a laptop.
    assert guard("kubectl apply -f web.yaml --context kind-dev", incident_id="INC-7").verdict == "allow"


def test_a_target_that_is_not_governed_names_the_human_command(runtime, guard) -> None:
    answer = guard("cub unit update web web.yaml --space shop-prod")
    assert "not governed by cublab's authority yet" in answer.reason
    assert "cublab authority import FILE --space shop-prod --unit UNIT" in answer.reason
    runtime.review.import_unit("shop-prod", "api", {"replicas": 1}, _human(), tier="production")
    unit = guard("cub unit update web web.yaml --space shop-prod")
    assert "The unit shop-prod/web is not governed yet" in unit.reason
    governed = guard("cub unit update api api.yaml --space shop-prod")
    assert "not governed" not in governed.reason and governed.verdict == "deny"


def _human():
    from cublab.domain.identity import human_identity

    return human_identity("human:alice")


def rows(runtime) -> list[tuple]:
    with sqlite3.connect(runtime.settings.db) as conn:
        return conn.execute("SELECT id, actor, verdict, criterion, subject, reasons FROM bypass_decision").fetchall()


def test_every_answer_is_logged_with_the_command_and_no_literal_secret(runtime, guard) -> None:
    answers = [
        guard("kubectl get pods"),
        guard(f"kubectl create secret generic db --from-literal=password={PASSWORD} --context prod"),
        guard("kubectl apply -f db.yaml --context prod"),
        guard(f"cat <<EOF | kubectl apply -f - --context prod\nkind: Secret\nstringData:\n  token: {PASSWORD}\nEOF"),
        guard(["kubectl", "--password", PASSWORD, "get", "pods"]),
        guard(f"kubectl delete secret {TOKEN} --context kind-dev"),
        guard(f"kubectl {TOKEN} --context prod"),
    ]
    logged = {r[0]: r for r in rows(runtime)}
    assert set(logged) == {a.decision_id for a in answers}
    for answer in answers:
        _, actor, verdict, _criterion, subject, reasons = logged[answer.decision_id]
        assert actor == AGENT and verdict == answer.verdict
        for literal in (PASSWORD, TOKEN):
            assert literal not in subject and literal not in reasons and literal not in answer.model_dump_json()
        assert '"source": "guard"' in subject
    assert '"command": "kubectl get pods"' in logged[answers[0].decision_id][4]
    assert "--from-literal=password=<redacted:" in answers[1].command
    with sqlite3.connect(runtime.settings.db) as conn:
        events = conn.execute("SELECT actor FROM audit_event WHERE action = 'guard.decide'").fetchall()
    assert events == [(AGENT,)] * len(answers)


class _Unreachable:
    """An authority that fails the test if the guard asks it anything."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the guard asked the authority ({name}) about a read-only command")


def test_read_only_commands_never_ask_the_authority(runtime, guard) -> None:
    runtime.ctx.remote = _Unreachable()  # type: ignore[assignment]
    for command in ("kubectl get pods --context prod", "helm list -A", "terraform plan", "cub unit list --space x"):
        assert guard(command).verdict == "allow"
    with pytest.raises(AssertionError, match="asked the authority"):
        guard("kubectl apply -f web.yaml --context prod")
    runtime.ctx.remote = None


def test_the_guard_and_bypass_check_give_the_same_engine_answer(runtime, guard) -> None:

    for name, context in (
        ("web.yaml", "prod"),
        ("monitor.yaml", "prod"),
        ("web.yaml", "kind-a"),
        ("secret.yaml", "prod"),
    ):
        by_tool = runtime.bypass.check(BypassCheck(context=context, document=FILES[name]), runtime.agent)
        by_guard = guard(f"kubectl apply -f {name} --context {context}")
        (target,) = by_guard.targets
        assert target.engine_verdict == by_tool.verdict
        assert (target.criterion.number if target.criterion else None) == (
            by_tool.criterion.number if by_tool.criterion and by_guard.verdict != "deny" else None
        )


def test_bad_input_is_refused_by_field(runtime, guard) -> None:
    from cublab.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="command: empty"):
        guard("   ")
    with pytest.raises(InvalidInput, match="sandbox_id"):
        guard("kubectl get pods", sandbox_id="not-a-sandbox")
    with pytest.raises(InvalidInput, match="over the guard's limit"):
        guard("kubectl get pods " + "x" * 300_000)


def test_documents_the_guard_cannot_hold_are_denied_not_crashed_on(guard) -> None:
    deep = "a: " + "{b: " * 3000 + "1" + "}" * 3000
    assert guard("kubectl apply -f d.yaml --context prod", files={"d.yaml": deep}).verdict == "deny"
    long_ns = "kind: ConfigMap\nmetadata: {name: a, namespace: " + "n" * 400 + "}\n"
    assert guard("kubectl apply -f d.yaml --context kind-a", files={"d.yaml": long_ns}).verdict == "allow"
    given = guard("kubectl apply -f given.yaml --context prod", files={"given.yaml": FILES["monitor.yaml"]})
    assert given.verdict == "allow" and given.criterion is not None and given.criterion.number == 8


def test_the_decision_log_lists_guard_answers_by_verdict(runtime, guard) -> None:
    denied = guard("kubectl delete ns web --context prod")
    allowed = guard("kubectl get pods")
    assert [d.id for d in runtime.bypass.decisions(verdict="deny")] == [denied.decision_id]
    assert [d.id for d in runtime.bypass.decisions(verdict="allow")] == [allowed.decision_id]
    assert [d.id for d in runtime.bypass.decisions(actor=AGENT)] == [allowed.decision_id, denied.decision_id]


def test_the_guard_answers_and_logs_on_every_database(any_runtime, tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(FILES["web.yaml"])
    answers = [
        any_runtime.guard.check(command, any_runtime.agent, cwd=str(tmp_path), env={})
        for command in ("kubectl apply -f web.yaml --context kind-a", "kubectl apply -f web.yaml --context prod")
    ]
    assert [a.verdict for a in answers] == ["allow", "deny"]
    logged = any_runtime.bypass.decisions(actor=AGENT)
    assert [(d.id, d.verdict, d.subject["source"]) for d in logged] == [
        (answers[1].decision_id, "deny", "guard"),
        (answers[0].decision_id, "allow", "guard"),
    ]


def test_a_cd_earlier_on_the_line_is_where_the_files_are_read(guard, tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "web.yaml").write_text(FILES["monitor.yaml"])
    moved = guard("cd k8s && kubectl apply -f web.yaml --context prod")
    assert moved.verdict == "allow" and moved.criterion is not None and moved.criterion.number == 8
    assert guard("kubectl apply -f web.yaml --context prod").verdict == "deny"  # the Deployment in tmp_path


def test_with_confighub_the_probe_decides_break_glass(hub, sqlite_url, clock, tmp_path: Path) -> None:
    """Against a ConfigHub (the local fake over HTTP): reachable, a production apply is denied with the
    variant path; unreachable by cublab's own probe, it is break-glass without a declared incident, so
    denied with the declare path; an unknown space names the human import command."""
    from support.confighub_fake import confighub_runtime

    (tmp_path / "web.yaml").write_text(FILES["web.yaml"])
    runtime = confighub_runtime(sqlite_url, clock, hub)
    try:
        up = runtime.guard.check("kubectl apply -f web.yaml --context prod", runtime.agent, cwd=str(tmp_path), env={})
        assert up.verdict == "deny" and up.governed_path == VARIANT_PATH
        hint = runtime.guard.check("cub unit update web w.yaml --space nowhere", runtime.agent, env={})
        assert "cublab authority import FILE --space nowhere" in hint.reason
        hub.stop()
        down = runtime.guard.check("kubectl apply -f web.yaml --context prod", runtime.agent, cwd=str(tmp_path), env={})
        assert down.verdict == "deny" and down.must_declare_incident
        assert down.governed_path is not None and "breakglass_declare" in down.governed_path
        local = runtime.guard.check(
            "kubectl apply -f web.yaml --context kind-a", runtime.agent, cwd=str(tmp_path), env={}
        )
        assert local.verdict == "allow"  # break-glass does not apply to a laptop
    finally:
        runtime.close()


def test_an_allow_says_what_its_criterion_still_owes(runtime, guard) -> None:
    sandbox = runtime.sandboxes.spawn(SpawnSandbox(name="cache", purpose="try cache sizes", ttl="2h"), runtime.agent)
    in_sandbox = guard("kubectl apply -f web.yaml --context staging", sandbox_id=sandbox.id)
    assert in_sandbox.reconciliation is not None and in_sandbox.reconciliation.kind == "winning_variant_proposal"
    platform = guard("helm upgrade --install cert-manager jetstack/cert-manager --kube-context prod")
    assert platform.reconciliation is not None and platform.reconciliation.kind == "separate_bootstrap"
    assert guard("kubectl apply -f web.yaml --context kind-a").reconciliation is None  # local: nothing owed
    assert guard("kubectl apply -f web.yaml --context prod").reconciliation is None  # denied: nothing was allowed
