"""The seed's bypass policy as one table: every criterion, every branch of the decision
tree, every row of the audit and summary tables, and the precedence conflicts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cublab.domain.bypass import BypassDecision, ChangeFacts, decide, sandbox_eligibility
from cublab.domain.errors import InvalidInput
from cublab.policies import load_policy

POLICY = load_policy().policy.bypass
DEFAULT_YAML = Path(load_policy.__globals__["resources"].files("cublab.policies").joinpath("default.yaml"))

# The seed's two tables, copied from confighub-bypass-criteria.md.
AUDIT = {
    1: ("Ephemeral resources", "None"),
    2: ("Local development", "None"),
    3: ("Platform infrastructure", "Bootstrap runbook with change log"),
    4: ("Break-glass", "Mandatory capture within 1 hour"),
    5: ("Secrets", "Secret management system's audit log"),
    6: ("Real-time data", "Not configuration; no audit"),
    7: ("Agent experiments", "Experiments logged; winning proposal audited"),
    8: ("Observability", "Optional; bootstrap runbook"),
}
SUMMARY = {
    1: ("Ephemeral resources", "No"),
    2: ("Local development", "No"),
    3: ("Platform infrastructure", "Separate bootstrap process"),
    4: ("Break-glass emergencies", "Yes, within 1 hour"),
    5: ("Secrets and credentials", "Reference in ConfigHub, value elsewhere"),
    6: ("Real-time operational data", "No (not configuration)"),
    7: ("Agent experimentation", "Winning variant becomes proposal"),
    8: ("Cross-cutting observability", "Optional"),
}
RECONCILIATION = {
    1: "none",
    2: "none",
    3: "separate_bootstrap",
    4: "required",
    5: "reference_only",
    6: "none",
    7: "winning_variant_proposal",
    8: "optional",
}

PERSIST_YES = "Is this configuration that should persist? Yes"
PERSIST_NO = "Is this configuration that should persist? No"
SECRETS_YES = "Does it contain secrets? Yes"
SECRETS_NO = "Does it contain secrets? No"
AVAILABLE_YES = "Is ConfigHub available? Yes"
AVAILABLE_NO = "Is ConfigHub available? No"
AVAILABLE_MOOT = "Is ConfigHub available? Not needed"
VALUE_YES = "Would ConfigHub add value? Yes"
VALUE_NO = "Would ConfigHub add value? No"

SEED_TEST_ENV = {
    "kind": "TestEnvironment",
    "metadata": {"name": "pr-42", "labels": {"ephemeral": "true", "ttl": "2h", "bypass-confighub": "true"}},
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "messagewall"},
    "spec": {"replicas": 3, "template": {}},
}
SEED_AUTOSCALED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api"},
    "spec": {"replicas": 7, "autoscaling": {"minReplicas": 2, "maxReplicas": 10}},
    "status": {"currentReplicas": 7},
}
CANARY_VS = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "web", "ownerReferences": [{"kind": "Canary", "name": "web"}]},
    "spec": {
        "hosts": ["web"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "web-primary"}, "weight": 90},
                    {"destination": {"host": "web-canary"}, "weight": 10},
                ]
            }
        ],
    },
}
K8S_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "messagewall-db-creds"},
    "stringData": {"password": "hunter2-literal"},
}
COMPOSE = {"services": {"db": {"image": "postgres:16"}, "app": {"build": "."}}}
PROM_CONFIG = {
    "global": {"scrape_interval": "15s"},
    "scrape_configs": [{"job_name": "messagewall", "static_configs": [{"targets": ["web:9090"]}]}],
}


# What cublab verified itself (ChangeFacts.verified): an incident declared and open, its own probe failing.
def OPEN(incident_id: str) -> dict:
    return {"incident": {"id": incident_id, "state": "open"}}


DOWN = {"confighub_reachable": False}


def row(
    id: str,
    facts: dict[str, Any],
    verdict: str,
    criterion: int | None,
    path: list[str],
    also: list[int] = (),
    check=None,
):
    return pytest.param(facts, verdict, criterion, path, list(also), check, id=id)


def has_reason(text: str):
    def check(d: BypassDecision) -> None:
        assert any(text in r for r in d.reasons), f"no reason mentions {text!r}: {d.reasons}"

    return check


def all_of(*checks):
    def check(d: BypassDecision) -> None:
        for c in checks:
            c(d)

    return check


def secrets_at(*paths: str, reference_in: str = "ConfigHub"):
    def check(d: BypassDecision) -> None:
        assert d.secrets is not None
        assert d.secrets.paths == list(paths)
        assert reference_in in d.secrets.reference_in and "secretRef" in d.secrets.reference_in
        assert "secrets manager" in d.secrets.value_in
        assert {"AWS Secrets Manager", "HashiCorp Vault", "Kubernetes Secrets"} <= set(d.secrets.managers)

    return check


def observed(*paths: str):
    def check(d: BypassDecision) -> None:
        assert d.observed_paths == list(paths)

    return check


def deadlines(must_declare: bool):
    def check(d: BypassDecision) -> None:
        r = d.reconciliation
        assert r.capture_within == timedelta(hours=1) and r.review_within == timedelta(hours=24)
        assert r.must_declare_incident is must_declare
        assert any("within 1h" in x and "within 24h" in x for x in d.reasons)

    return check


def refused(d: BypassDecision) -> None:
    assert d.refused_label and "bypass-confighub" in d.refused_label and "refused" in d.refused_label


TABLE = [
    # ---- criterion 1: ephemeral (tree: persist? No) ----
    row(
        "c1-seed-example-labels",
        dict(context="staging", document=SEED_TEST_ENV),
        "bypass",
        1,
        [PERSIST_NO + ": ephemeral, ttl 2h (label ttl)", "-> Bypass (ephemeral, experiments, throwaway)"],
    ),
    row(
        "c1-ci-test-environment",
        dict(context="ci", kind="Namespace", name="ci-run-881"),
        "bypass",
        1,
        [PERSIST_NO + ": ephemeral, a ci context cleans it up"],
    ),
    row(
        "c1-preview-environment",
        dict(context="preview-pr-42", kind="Deployment", name="web"),
        "bypass",
        1,
        [PERSIST_NO],
    ),
    row(
        "c1-ttl-field-load-test",
        dict(context="staging", kind="Job", name="load-test", ttl="90m"),
        "bypass",
        1,
        [PERSIST_NO + ": ephemeral, ttl 1h30m (ttl)"],
    ),
    # Production is never ephemeral (docs/policy.md, "Evidence and claims"): the ttl is ignored.
    row(
        "c1-temporary-debug-pod-in-production",
        dict(context="production", kind="Pod", name="debug", ttl="30m", persist=False),
        "use_confighub",
        None,
        [PERSIST_YES + " (production is never ephemeral: the ttl is ignored)"],
        check=has_reason("was ignored: production is never ephemeral"),
    ),
    row("c1-ttl-exactly-at-maximum", dict(context="staging", kind="Job", ttl="72h"), "bypass", 1, [PERSIST_NO]),
    # ---- criterion 2: local development (tree: adds value? No) ----
    row(
        "c2-kind-cluster",
        dict(context="kind-dev", kind="Deployment", name="web"),
        "bypass",
        2,
        [
            PERSIST_YES,
            SECRETS_NO,
            AVAILABLE_MOOT,
            VALUE_NO + ": local development",
            "-> Bypass (observability, local dev, etc.)",
        ],
    ),
    row(
        "c2-minikube",
        dict(context="minikube", kind="StatefulSet", name="postgres"),
        "bypass",
        2,
        [AVAILABLE_MOOT, VALUE_NO],
    ),
    row("c2-docker-desktop", dict(context="docker-desktop", kind="Deployment"), "bypass", 2, [VALUE_NO]),
    row("c2-k3d", dict(context="k3d-mycluster", kind="Deployment"), "bypass", 2, [VALUE_NO]),
    row(
        "c2-docker-compose-document",
        dict(context="laptop", document=COMPOSE),
        "bypass",
        2,
        [VALUE_NO + ": local development (the document is a Docker Compose file)"],
    ),
    row("c2-local-database", dict(context="localhost", kind="Database", name="dev-db"), "bypass", 2, [VALUE_NO]),
    # ---- criterion 3: platform infrastructure (tree: available? No, bootstrap) ----
    row(
        "c3-confighub-own-deployment",
        dict(context="production", kind="Deployment", name="confighub-worker", namespace="confighub"),
        "bypass",
        3,
        [PERSIST_YES, SECRETS_NO, AVAILABLE_NO + ": ConfigHub depends on it", "-> Bypass (break-glass, bootstrap)"],
    ),
    row(
        "c3-argocd-controller",
        dict(context="production", kind="StatefulSet", name="argocd-application-controller", namespace="argocd"),
        "bypass",
        3,
        [AVAILABLE_NO],
    ),
    row(
        "c3-crossplane-provider",
        dict(
            context="staging",
            document={"apiVersion": "pkg.crossplane.io/v1", "kind": "Provider", "metadata": {"name": "provider-aws"}},
        ),
        "bypass",
        3,
        [AVAILABLE_NO + ": ConfigHub depends on it (platform infrastructure: kind Provider)"],
    ),
    row(
        "c3-kyverno",
        dict(context="production", kind="Deployment", name="kyverno-admission-controller", namespace="kyverno"),
        "bypass",
        3,
        [AVAILABLE_NO],
    ),
    row(
        "c3-cert-manager-issuer",
        dict(context="production", kind="ClusterIssuer", name="letsencrypt"),
        "bypass",
        3,
        [AVAILABLE_NO],
    ),
    row(
        "c3-part-of-label",
        dict(context="production", kind="ConfigMap", name="cm", labels={"app.kubernetes.io/part-of": "argocd"}),
        "bypass",
        3,
        [AVAILABLE_NO],
    ),
    # ---- criterion 4: break-glass (tree: available? No, reconcile) ----
    row(
        "c4-production-outage-incident",
        dict(context="production", kind="Deployment", name="web", incident_id="INC-7", verified=OPEN("INC-7")),
        "bypass_then_reconcile",
        4,
        [
            PERSIST_YES,
            SECRETS_NO,
            AVAILABLE_NO + " (incident INC-7: the normal workflow is too slow)",
            "reconcile afterward",
        ],
        check=deadlines(False),
    ),
    row(
        "c4-confighub-down-no-incident",
        dict(context="production", kind="Deployment", name="web", confighub_reachable=False, verified=DOWN),
        "bypass_then_reconcile",
        4,
        [AVAILABLE_NO + " (ConfigHub is unreachable)"],
        check=all_of(deadlines(True), has_reason("declare the incident")),
    ),
    row(
        "c4-partition-and-incident",
        dict(
            context="prod-eu",
            kind="NetworkPolicy",
            name="lockdown",
            incident_id="SEC-1",
            confighub_reachable=False,
            verified={**OPEN("SEC-1"), **DOWN},
        ),
        "bypass_then_reconcile",
        4,
        [AVAILABLE_NO + " (incident SEC-1: the normal workflow is too slow, and ConfigHub is unreachable)"],
        check=deadlines(False),
    ),
    # ---- criterion 5: secrets (tree: secrets? Yes) ----
    row(
        "c5-kubernetes-secret",
        dict(context="production", document=K8S_SECRET),
        "bypass",
        5,
        [
            PERSIST_YES,
            SECRETS_YES + " (/stringData/password)",
            AVAILABLE_YES,
            VALUE_YES,
            "-> Bypass (use secrets manager)",
        ],
        check=secrets_at("/stringData/password"),
    ),
    row(
        "c5-literal-in-deployment",
        dict(context="staging", document=DEPLOYMENT, secret_paths=["/spec/template/env/0/value", "/spec/apiKey"]),
        "bypass",
        5,
        [SECRETS_YES],
        check=secrets_at("/spec/apiKey", "/spec/template/env/0/value"),
    ),
    row(
        "c5-secret-kind-without-document",
        dict(context="production", kind="Secret", name="oauth-client"),
        "bypass",
        5,
        [SECRETS_YES],
        check=all_of(
            secrets_at(), has_reason("ConfigHub Is Not a Secrets Manager: ConfigHub stores references, not values.")
        ),
    ),
    # ---- criterion 6: real-time operational data ----
    row(
        "c6-status-only",
        dict(
            context="production",
            document={"kind": "HorizontalPodAutoscaler", "metadata": {"name": "api"}, "status": {"currentReplicas": 7}},
        ),
        "bypass",
        6,
        [PERSIST_NO + ": the document holds only observed state (/status), not configuration"],
        check=all_of(
            observed("/status"),
            has_reason("ConfigHub Is Not a Service Mesh Control Plane"),
            has_reason("ConfigHub Is Not a Kubernetes API Server"),
        ),
    ),
    row(
        "c6-event-kind",
        dict(context="production", kind="Event", name="web.17a"),
        "bypass",
        6,
        [PERSIST_NO + ": kind Event is observed state"],
    ),
    row(
        "c6-cache-contents",
        dict(
            context="production", document={"kind": "ConfigMap", "cacheContents": {"k": "v"}, "sessionData": {"s": 1}}
        ),
        "bypass",
        6,
        [PERSIST_NO],
        check=observed("/cacheContents", "/sessionData"),
    ),
    row(
        "c6-part-hpa-replicas-and-status",
        dict(context="production", document=SEED_AUTOSCALED),
        "use_confighub",
        None,
        [PERSIST_YES, SECRETS_NO, AVAILABLE_YES, VALUE_YES, "-> Use ConfigHub"],
        also=[6],
        check=all_of(observed("/spec/replicas", "/status"), has_reason("observed part only")),
    ),
    row(
        "c6-part-mesh-weights",
        dict(context="production", document=CANARY_VS),
        "use_confighub",
        None,
        ["-> Use ConfigHub"],
        also=[6],
        check=observed("/spec/http/0/route/0/weight", "/spec/http/0/route/1/weight"),
    ),
    row(
        "c6-replicas-without-autoscaler-are-desired",
        dict(context="production", document=DEPLOYMENT),
        "use_confighub",
        None,
        ["-> Use ConfigHub"],
        check=observed(),
    ),
    # ---- criterion 7: agent experimentation ----
    row(
        "c7-cublab-sandbox",
        dict(context="sandbox", kind="Sandbox", name="try-memory", ttl="2h", is_sandbox_experiment=True),
        "bypass",
        7,
        [
            PERSIST_NO + ": a cublab sandbox experiment with ttl 2h (within 72h)",
            "-> Bypass (ephemeral, experiments, throwaway)",
        ],
        also=[1],
    ),
    row(
        "c7-sandbox-in-kind",
        dict(context="kind-agent", kind="Sandbox", ttl="24h", is_sandbox_experiment=True),
        "bypass",
        7,
        [PERSIST_NO],
        also=[1, 2],
    ),
    # ---- criterion 8: observability (tree: adds value? No) ----
    row(
        "c8-servicemonitor-in-production",
        dict(context="production", kind="ServiceMonitor", name="web"),
        "bypass",
        8,
        [
            PERSIST_YES,
            SECRETS_NO,
            AVAILABLE_YES,
            VALUE_NO + ": cross-cutting observability (kind ServiceMonitor)",
            "-> Bypass (observability, local dev, etc.)",
        ],
    ),
    row(
        "c8-prometheus-scrape-config",
        dict(context="production", document=PROM_CONFIG),
        "bypass",
        8,
        [VALUE_NO + ": cross-cutting observability (document field /scrape_configs)"],
    ),
    row("c8-datadog-agent", dict(context="staging", kind="DaemonSet", name="datadog-agent"), "bypass", 8, [VALUE_NO]),
    row(
        "c8-fluent-bit-log-shipping",
        dict(context="production", kind="ConfigMap", name="fluent-bit-config", namespace="logging"),
        "bypass",
        8,
        [VALUE_NO],
    ),
    row(
        "c8-otel-collector-tracing",
        dict(
            context="production",
            document={
                "apiVersion": "opentelemetry.io/v1beta1",
                "kind": "OpenTelemetryCollector",
                "metadata": {"name": "otel"},
            },
        ),
        "bypass",
        8,
        [VALUE_NO],
    ),
    row("c8-promtail", dict(context="production", kind="DaemonSet", name="promtail"), "bypass", 8, [VALUE_NO]),
    # ---- tree: persist -> no secrets -> available -> adds value -> use ConfigHub ----
    row(
        "tree-plain-production-change",
        dict(context="production", document=DEPLOYMENT),
        "use_confighub",
        None,
        [
            PERSIST_YES + " (nothing says it is short-lived or cleaned up)",
            SECRETS_NO,
            AVAILABLE_YES,
            VALUE_YES,
            "-> Use ConfigHub",
        ],
    ),
    row(
        "tree-persist-true-overrides-ttl",
        dict(context="staging", kind="ConfigMap", ttl="2h", persist=True),
        "use_confighub",
        None,
        [PERSIST_YES + " (persist=true)"],
        check=has_reason("persist=true overrides the ttl"),
    ),
    # ---- precedence conflicts ----
    row(
        "conflict-ephemeral-with-secret",
        dict(context="preview", document=SEED_TEST_ENV, secret_paths=["/spec/apiKey"]),
        "bypass",
        1,
        [PERSIST_NO],
        also=[5],
        check=all_of(
            secrets_at("/spec/apiKey"),
            has_reason("Even in an ephemeral environment the secret value stays out of ConfigHub"),
        ),
    ),
    row(
        "conflict-breakglass-to-platform",
        dict(
            context="production",
            kind="Deployment",
            name="argocd-server",
            namespace="argocd",
            incident_id="INC-9",
            verified=OPEN("INC-9"),
        ),
        "bypass",
        3,
        [AVAILABLE_NO + ": ConfigHub depends on it"],
        also=[4],
        check=all_of(has_reason("bootstrap runbook's change log"), lambda d: d.reconciliation.capture_within is None),
    ),
    row(
        "conflict-breakglass-with-secret",
        dict(
            context="production",
            document=DEPLOYMENT,
            secret_paths=["/spec/token"],
            incident_id="INC-3",
            verified=OPEN("INC-3"),
        ),
        "bypass_then_reconcile",
        4,
        [SECRETS_YES + " (/spec/token): the values bypass ConfigHub; the rest of the document continues", AVAILABLE_NO],
        also=[5],
        check=all_of(
            deadlines(False), secrets_at("/spec/token"), has_reason("capture carries the references, never the values")
        ),
    ),
    row(
        "conflict-local-with-secret",
        dict(context="kind-dev", document=K8S_SECRET),
        "bypass",
        2,
        [SECRETS_YES, AVAILABLE_MOOT, VALUE_NO],
        also=[5],
        check=secrets_at("/stringData/password", reference_in="local configuration"),
    ),
    row(
        "conflict-platform-with-secret",
        dict(
            context="production", document={**K8S_SECRET, "metadata": {"name": "argocd-secret", "namespace": "argocd"}}
        ),
        "bypass",
        3,
        [SECRETS_YES, AVAILABLE_NO],
        also=[5],
        check=secrets_at("/stringData/password", reference_in="bootstrap configuration"),
    ),
    row(
        "conflict-observability-production-confighub-up",
        dict(context="production", kind="PodMonitor", name="api", confighub_reachable=True),
        "bypass",
        8,
        [AVAILABLE_YES, VALUE_NO],
    ),
    row(
        "conflict-observability-opted-in",
        dict(context="production", kind="PodMonitor", name="api", adds_value=True),
        "use_confighub",
        None,
        [VALUE_YES + " (the caller opts in although criterion 8 would allow a bypass)"],
        also=[8],
    ),
    row(
        "conflict-observability-while-confighub-down",
        dict(context="production", kind="ServiceMonitor", confighub_reachable=False, verified=DOWN),
        "bypass_then_reconcile",
        4,
        [AVAILABLE_NO + " (ConfigHub is unreachable)"],
        also=[8],
        check=deadlines(True),
    ),
    row(
        "conflict-bypass-label-nothing-holds",
        dict(context="production", kind="Deployment", name="web", labels={"bypass-confighub": "true"}),
        "use_confighub",
        None,
        ["-> Use ConfigHub"],
        check=refused,
    ),
    row(
        "conflict-ephemeral-label-ttl-over-max",
        dict(
            context="staging", kind="Deployment", labels={"ephemeral": "true", "ttl": "5d", "bypass-confighub": "true"}
        ),
        "use_confighub",
        None,
        [PERSIST_YES],
        check=all_of(refused, has_reason("over the policy maximum of 72h")),
    ),
    row(
        "conflict-ttl-field-over-max-in-ci",
        dict(context="ci", kind="Namespace", ttl="7d"),
        "use_confighub",
        None,
        [PERSIST_YES],
    ),
    row(
        "conflict-ephemeral-claim-without-cleanup",
        dict(context="staging", kind="Deployment", persist=False),
        "use_confighub",
        None,
        [PERSIST_YES],
        check=has_reason("nothing cleans it up"),
    ),
    row(
        "conflict-unparsable-ttl-label",
        dict(context="staging", kind="Deployment", labels={"ttl": "soon"}),
        "use_confighub",
        None,
        [PERSIST_YES],
        check=has_reason("is not a duration"),
    ),
    row(
        "conflict-unreachable-without-incident",
        dict(context="staging", kind="ConfigMap", confighub_reachable=False, verified=DOWN),
        "bypass_then_reconcile",
        4,
        [AVAILABLE_NO],
        check=deadlines(True),
    ),
    row(
        "conflict-incident-with-confighub-reachable",
        dict(
            context="production",
            kind="ConfigMap",
            incident_id="INC-2",
            confighub_reachable=True,
            verified={**OPEN("INC-2"), "confighub_reachable": True},
        ),
        "bypass_then_reconcile",
        4,
        [AVAILABLE_NO + " (incident INC-2"],
        check=deadlines(False),
    ),
    row(
        "conflict-incident-on-ephemeral-needs-no-capture",
        dict(context="ci", kind="Namespace", incident_id="INC-4"),
        "bypass",
        1,
        [PERSIST_NO],
        check=has_reason("needs no capture"),
    ),
    row(
        "conflict-local-while-confighub-down",
        dict(context="kind-dev", kind="Deployment", confighub_reachable=False, incident_id="INC-5"),
        "bypass",
        2,
        [AVAILABLE_MOOT],
        check=has_reason("Break-glass does not apply to a local context"),
    ),
    row(
        "conflict-production-sandbox-is-not-criterion-7",
        dict(context="production", kind="Sandbox", ttl="2h", is_sandbox_experiment=True),
        "use_confighub",
        None,
        [PERSIST_YES],
        check=has_reason("production context never qualifies as a sandbox"),
    ),
    row(
        "conflict-production-named-kind-is-not-local",
        dict(context="kind-prod", kind="Deployment"),
        "use_confighub",
        None,
        [PERSIST_YES, AVAILABLE_YES],
        check=all_of(has_reason("never qualifies as local"), lambda d: d.context_class == "production"),
    ),
    row(
        "conflict-production-space-is-not-local",
        dict(context="minikube", space="messagewall-prod", kind="Deployment"),
        "use_confighub",
        None,
        [AVAILABLE_YES],
    ),
    row(
        "conflict-sandbox-experiment-without-ttl",
        dict(context="sandbox", kind="Sandbox", is_sandbox_experiment=True),
        "use_confighub",
        None,
        [PERSIST_YES],
        check=has_reason("criterion 7 does not hold"),
    ),
    row(
        "conflict-adds-no-value-unbacked",
        dict(context="staging", kind="ConfigMap", adds_value=False),
        "use_confighub",
        None,
        [VALUE_YES + ": 'no value' was claimed, but no criterion backs the claim"],
        check=has_reason("adds_value=false alone is not a bypass criterion"),
    ),
    row(
        "conflict-local-opted-in",
        dict(context="kind-dev", kind="Deployment", adds_value=True),
        "use_confighub",
        None,
        [VALUE_YES],
        also=[2],
    ),
    row(
        "conflict-experiment-with-secret",
        dict(context="sandbox", kind="Sandbox", ttl="2h", is_sandbox_experiment=True, secret_paths=["/spec/key"]),
        "bypass",
        7,
        [PERSIST_NO],
        also=[1, 5],
        check=secrets_at("/spec/key"),
    ),
    row(
        "conflict-observed-part-of-secret-free-breakglass",
        dict(context="production", document=SEED_AUTOSCALED, incident_id="INC-8", verified=OPEN("INC-8")),
        "bypass_then_reconcile",
        4,
        [AVAILABLE_NO],
        also=[6],
        check=all_of(observed("/spec/replicas", "/status"), deadlines(False)),
    ),
]


def _in_order(path: list[str], parts: list[str]) -> bool:
    i = 0
    for step in path:
        if i < len(parts) and parts[i] in step:
            i += 1
    return i == len(parts)


@pytest.mark.parametrize(("facts", "verdict", "criterion", "path", "also", "check"), TABLE)
def test_decision_table(facts, verdict, criterion, path, also, check) -> None:
    d = decide(ChangeFacts(**facts), POLICY)
    assert d.verdict == verdict, d.path
    assert (d.criterion.number if d.criterion else None) == criterion, d.path
    assert [a.number for a in d.also_matched] == also
    assert _in_order(d.path, path), f"path {d.path} lacks, in order, {path}"
    if criterion is None:
        assert d.reconciliation is None and d.audit_requirement is None
    else:
        assert d.criterion.name == POLICY.criterion(criterion).name
        assert d.reconciliation.kind == RECONCILIATION[criterion]
        assert d.reconciliation.text == POLICY.criterion(criterion).reconciliation.text
        assert d.audit_requirement == AUDIT[criterion][1]
        if criterion != 4:
            assert d.reconciliation.capture_within is None and d.reconciliation.review_within is None
        if verdict != "use_confighub":
            assert d.refused_label is None
    if check:
        check(d)


@pytest.mark.parametrize("number", range(1, 9))
def test_policy_holds_the_seed_tables_word_for_word(number: int) -> None:
    c = POLICY.criterion(number)
    assert (c.audit.scenario, c.audit.requirement) == AUDIT[number]
    assert (c.summary.scenario, c.summary.reconciliation_required) == SUMMARY[number]
    assert c.summary.bypass_ok is True
    assert c.reconciliation.kind == RECONCILIATION[number]
    assert len(c.examples) == (5 if number == 3 else 4)


def test_policy_holds_the_rest_of_the_seed() -> None:
    assert [n.question for n in POLICY.decision_tree] == [
        "Is this configuration that should persist?",
        "Does it contain secrets?",
        "Is ConfigHub available?",
        "Would ConfigHub add value?",
    ]
    assert POLICY.breakglass.capture_within == timedelta(hours=1) and POLICY.breakglass.review_within == timedelta(
        hours=24
    )
    assert [n.title for n in POLICY.not_for] == [
        "ConfigHub Is Not a Secrets Manager",
        "ConfigHub Is Not a Service Mesh Control Plane",
        "ConfigHub Is Not a Kubernetes API Server",
        "ConfigHub Is Not a CI/CD Pipeline",
        "ConfigHub Is Not Universal",
    ]
    assert "Secrets never go in ConfigHub" in POLICY.key_principles and len(POLICY.key_principles) == 5
    assert POLICY.platform.bootstrap_chain.not_in_confighub == [
        "Kubernetes cluster",
        "Crossplane",
        "Kyverno",
        "ArgoCD",
        "ConfigHub worker",
    ]
    assert POLICY.ephemeral.max_ttl == load_policy().policy.sandbox.max_ttl


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-5), 0, "0m", "soon"])
def test_facts_refuse_a_ttl_that_is_not_a_positive_duration(ttl) -> None:
    with pytest.raises(ValueError, match="ttl"):
        ChangeFacts(context="ci", ttl=ttl)


def test_facts_read_ttl_as_people_write_it() -> None:
    assert ChangeFacts(context="ci", ttl="1h30m").ttl == timedelta(minutes=90)
    assert ChangeFacts(context="ci", ttl=7200).ttl == timedelta(hours=2)
    assert ChangeFacts(context="ci", ttl="").ttl is None


def test_secret_values_never_appear_in_the_decision() -> None:
    d = decide(ChangeFacts(context="production", document=K8S_SECRET, incident_id="INC-1"), POLICY)
    assert "hunter2-literal" not in d.model_dump_json()
    assert d.secrets.paths == ["/stringData/password"]


# ---- sandbox eligibility ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "eligible", "fields"),
    [
        (dict(ttl=timedelta(hours=2)), True, []),
        (dict(ttl=timedelta(hours=72), context="kind-agent"), True, []),
        (dict(ttl=timedelta(hours=2), context="production"), False, ["context"]),
        (dict(ttl=timedelta(hours=2), space="messagewall-prod"), False, ["context"]),
        (dict(ttl=None), False, ["ttl"]),
        (dict(ttl=timedelta(hours=73)), False, ["ttl"]),
        (dict(ttl=timedelta(hours=2), secret_paths=["/db/password"]), False, ["config"]),
        (dict(ttl=None, context="prod-us", secret_paths=["/a"]), False, ["context", "ttl", "config"]),
    ],
)
def test_sandbox_eligibility(kwargs, eligible, fields) -> None:
    result = sandbox_eligibility(POLICY, **kwargs)
    assert result.eligible is eligible
    assert [p.split(":")[0] for p in result.problems] == fields
    if eligible:
        assert result.decision.criterion.number == 7 and result.decision.verdict == "bypass"
    if "ttl" in fields:
        assert "72h" in next(p for p in result.problems if p.startswith("ttl"))
    if "config" in fields:
        assert kwargs["secret_paths"][0] in next(p for p in result.problems if p.startswith("config"))


# ---- the validator refuses an incomplete policy ----------------------------------------


def _edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(DEFAULT_YAML.read_text())
    edit(data["bypass"])
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b["criteria"].pop(3), "exactly the eight criteria numbered 1 to 8"),
        (lambda b: b["criteria"].append(dict(b["criteria"][0])), "exactly the eight criteria numbered 1 to 8"),
        (lambda b: b["criteria"][0].update(number=9), "criteria.0.number"),
        (lambda b: b["criteria"][1].update(key="local"), "criteria[2].key: must be 'local_development'"),
        (
            lambda b: b["criteria"][3]["reconciliation"].update(kind="optional"),
            "criteria[4].reconciliation.kind: must be 'required'",
        ),
        (lambda b: b["decision_tree"].reverse(), "decision_tree: the four questions"),
        (lambda b: b["breakglass"].update(capture_within="2d"), "capture_within must not exceed"),
        (lambda b: b["ephemeral"].update(max_ttl="soon"), "bypass.ephemeral.max_ttl"),
        (lambda b: b.pop("not_for"), "bypass.not_for: Field required"),
        (lambda b: b["criteria"][0].update(colour="red"), "colour"),
        (lambda b: b["observed_state"]["owned_fields"][0].update(paths=["spec.replicas"]), "is not a JSON Pointer"),
        (lambda b: b["not_for"][0].update(criteria=[12]), "not criterion numbers"),
    ],
)
def test_policy_validator_names_the_key(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        load_policy(_edited(tmp_path, edit))
    assert message in str(err.value)


def test_default_policy_round_trips(tmp_path: Path) -> None:
    assert load_policy(_edited(tmp_path, lambda b: None)).policy.bypass == POLICY
