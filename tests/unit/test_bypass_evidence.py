"""The bypass engine's principle: a verdict that lets a change skip the authority rests on evidence
cublab can check; a claim the caller makes can only make the answer stricter.

One table row per way a caller's own description used to move a change out of governance
(production ttls, undeclared incidents, believed reachability, namespaces and names taken for
components, criterion 7 out of reach, observed state missed, references taken for secrets),
then hypothesis properties over the strictness order `bypass < bypass_then_reconcile <
use_confighub` (docs/policy.md, "Evidence and claims")."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cublab.domain.bypass import STRICTNESS, BypassDecision, ChangeFacts, Evidence, decide, stricter, strictness
from cublab.policies import load_policy

POLICY = load_policy().policy.bypass
FAST = settings(max_examples=300, deadline=None)


def OPEN(incident_id: str) -> dict[str, Any]:
    return {"incident": {"id": incident_id, "state": "open"}}


def INCIDENT(incident_id: str, state: str) -> dict[str, Any]:
    return {"incident": {"id": incident_id, "state": state}}


def SANDBOX(sandbox_id: str, state: str, remaining: str | None = None) -> dict[str, Any]:
    return {"sandbox": {"id": sandbox_id, "state": state, "remaining": remaining}}


DOWN = {"confighub_reachable": False}
UP = {"confighub_reachable": True}

WEB = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "messagewall"},
    "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/web:1.4"}]}}},
}


def web(**meta: Any) -> dict[str, Any]:
    return {**WEB, "metadata": {**WEB["metadata"], **meta}}


def with_image(doc: dict[str, Any], image: str) -> dict[str, Any]:
    return {**doc, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


# ---- checks a row may carry ---------------------------------------------------------------


def reason(text: str):
    def check(d: BypassDecision) -> None:
        assert any(text in r for r in d.reasons), f"no reason mentions {text!r}: {d.reasons}"

    return check


def no_reason(text: str):
    def check(d: BypassDecision) -> None:
        assert not any(text in r for r in d.reasons), f"a reason mentions {text!r}: {d.reasons}"

    return check


def must_declare(expected: bool = True):
    def check(d: BypassDecision) -> None:
        assert d.must_declare_incident is expected, d.reasons
        if expected:
            assert any("breakglass_declare" in r for r in d.reasons), d.reasons
        if d.reconciliation is not None and d.reconciliation.kind == "required":
            assert d.reconciliation.must_declare_incident is expected

    return check


def fact(name: str, basis: str, **expected: str | None):
    def check(d: BypassDecision) -> None:
        found = [f for f in d.facts if f.fact == name]
        assert found, f"no fact {name}: {d.facts}"
        assert found[0].basis == basis, found[0]
        for key, value in expected.items():
            got = getattr(found[0], key)
            assert got == value or (isinstance(value, str) and got is not None and value in got), (key, found[0])

    return check


def observed(*paths: str):
    def check(d: BypassDecision) -> None:
        assert d.observed_paths == list(paths)

    return check


def capture_in_1h(d: BypassDecision) -> None:
    assert d.reconciliation is not None and d.reconciliation.capture_within == timedelta(hours=1)


def row(
    id: str, facts: dict[str, Any], verdict: str, criterion: int | None, *checks, also: tuple[int, ...] | None = None
):
    return pytest.param(facts, verdict, criterion, also, checks, id=id)


TABLE = [
    # ---- production is never ephemeral -------------------------------------------------------
    row(
        "prod-deployment-ephemeral-labels-6h",
        dict(context="production", document=web(labels={"ephemeral": "true", "ttl": "6h"})),
        "use_confighub",
        None,
        reason("The ttl 6h (label ttl) was ignored: production is never ephemeral (context production)"),
        fact("ttl", "claimed", used="ignored: production is never ephemeral"),
        also=(),
    ),
    row(
        "prod-deployment-ephemeral-labels-48h-and-bypass-label",
        dict(
            context="production",
            document=web(labels={"ephemeral": "true", "ttl": "48h", "bypass-confighub": "true"}),
        ),
        "use_confighub",
        None,
        reason("production is never ephemeral"),
        lambda d: d.refused_label is not None,
    ),
    row(
        "prod-by-space-name-ttl-field",
        dict(context="eu-west-cluster", space="payments-prod", kind="ConfigMap", name="flags", ttl="2h"),
        "use_confighub",
        None,
        reason("production is never ephemeral (space payments-prod)"),
    ),
    row(
        "prod-by-verified-space-tier-ttl-label",
        dict(
            context="eu-west-cluster",
            space="payments",
            kind="ConfigMap",
            labels={"ttl": "1h"},
            verified={"space_tier": "production"},
        ),
        "use_confighub",
        None,
        reason("the space's tier production (verified in the authority)"),
        fact("production", "verified", verified="tier production"),
    ),
    row(
        "prod-ephemeral-kind-without-ttl",
        dict(context="prod-us", kind="TestEnvironment", name="load"),
        "use_confighub",
        None,
        reason("production is never ephemeral"),
    ),
    row(
        "outside-production-the-seed-example-is-still-criterion-1",
        dict(
            context="qa",
            document={
                "kind": "TestEnvironment",
                "metadata": {"labels": {"ephemeral": "true", "ttl": "2h", "bypass-confighub": "true"}},
            },
        ),
        "bypass",
        1,
        fact("ttl", "claimed", used="counted"),
    ),
    # ---- an incident outranks a ttl --------------------------------------------------------
    row(
        "prod-outage-declared-incident-ttl-1h-is-break-glass",
        dict(context="production", document=web(), incident_id="INC-311", ttl="1h", verified=OPEN("INC-311")),
        "bypass_then_reconcile",
        4,
        capture_in_1h,
        must_declare(False),
        no_reason("needs no capture"),
        fact("incident", "verified", claimed="INC-311", verified="open"),
    ),
    row(
        "staging-change-declared-incident-ttl-label-is-break-glass",
        dict(
            context="staging",
            kind="ConfigMap",
            name="rate-limits",
            labels={"ttl": "30m", "ephemeral": "true"},
            incident_id="INC-12",
            verified=OPEN("INC-12"),
        ),
        "bypass_then_reconcile",
        4,
        reason("an incident outranks a ttl"),
        capture_in_1h,
    ),
    row(
        "staging-change-undeclared-incident-ttl-stays-in-confighub",
        dict(context="staging", kind="ConfigMap", name="rate-limits", ttl="30m", incident_id="INC-12"),
        "use_confighub",
        None,
        must_declare(),
        reason("an incident outranks a ttl"),
    ),
    row(
        "ci-namespace-under-declared-incident-is-cleaned-by-the-pipeline",
        dict(context="ci", kind="Namespace", name="ci-run-9", incident_id="INC-4", verified=OPEN("INC-4")),
        "bypass",
        1,
        reason("needs no capture for this change: it does not persist (the ci context cleans it up)"),
    ),
    # ---- an incident counts only when declared and open ------------------------------------------
    row(
        "prod-incident-never-declared",
        dict(context="production", document=web(), incident_id="INC-77", verified=INCIDENT("INC-77", "undeclared")),
        "use_confighub",
        None,
        must_declare(),
        reason("INC-77 was never declared"),
        fact("incident", "verified", used="not counted"),
    ),
    row(
        "prod-incident-n-a",
        dict(context="production", document=web(), incident_id="n/a", verified=INCIDENT("n/a", "undeclared")),
        "use_confighub",
        None,
        must_declare(),
    ),
    row(
        "prod-incident-closed",
        dict(context="production", document=web(), incident_id="INC-1", verified=INCIDENT("INC-1", "closed")),
        "use_confighub",
        None,
        must_declare(),
        reason("INC-1 is closed"),
    ),
    row(
        "prod-incident-not-looked-up",
        dict(context="production", document=web(), incident_id="INC-5"),
        "use_confighub",
        None,
        must_declare(),
        fact("incident", "claimed", claimed="INC-5", verified=None),
    ),
    row(
        "prod-incident-evidence-for-another-id-does-not-count",
        dict(context="production", document=web(), incident_id="INC-5", verified=OPEN("INC-6")),
        "use_confighub",
        None,
        must_declare(),
    ),
    # ---- reachability is cublab's own probe ------------------------------------------------
    row(
        "caller-says-unreachable-cublab-reaches-it",
        dict(context="production", document=web(), confighub_reachable=False, verified=UP),
        "use_confighub",
        None,
        reason("cublab's own probe reached it: the claim is overruled"),
        fact("confighub_reachable", "verified", claimed="unreachable", verified="reachable", used="reachable"),
        must_declare(False),
    ),
    row(
        "caller-says-unreachable-nobody-probed",
        dict(context="staging", kind="ConfigMap", confighub_reachable=False),
        "use_confighub",
        None,
        reason("a claim cannot open break-glass"),
    ),
    row(
        "cublab-cannot-reach-it-no-incident",
        dict(context="production", document=web(), verified=DOWN),
        "bypass_then_reconcile",
        4,
        must_declare(),
        capture_in_1h,
        fact("confighub_reachable", "verified", used="unreachable"),
    ),
    row(
        "cublab-cannot-reach-it-caller-reaches-it-stricter-wins",
        dict(context="production", document=web(), confighub_reachable=True, verified=DOWN),
        "use_confighub",
        None,
        reason("the two disagree, so the change was decided under both readings and the stricter verdict"),
        fact("confighub_reachable", "claimed", claimed="reachable", verified="unreachable", used="reachable"),
    ),
    row(
        "cublab-cannot-reach-it-caller-reaches-it-observability-stays-break-glass",
        dict(context="production", kind="PodMonitor", name="api", confighub_reachable=True, verified=DOWN),
        "bypass_then_reconcile",
        4,
        reason("the stricter verdict (bypass_then_reconcile) wins, cublab's probe"),
        fact("confighub_reachable", "verified", used="unreachable"),
        also=(8,),
    ),
    row(
        "cublab-cannot-reach-it-declared-incident",
        dict(context="production", document=web(), incident_id="INC-2", verified={**DOWN, **OPEN("INC-2")}),
        "bypass_then_reconcile",
        4,
        must_declare(False),
    ),
    row(
        "cublab-cannot-reach-it-local-context",
        dict(context="kind-dev", kind="Deployment", verified=DOWN),
        "bypass",
        2,
        reason("Break-glass does not apply to a local context"),
        must_declare(False),
    ),
    # ---- production by the space's verified tier, not by names --------------------------------
    row(
        "local-looking-context-production-space-tier",
        dict(context="kind-payments", space="payments", kind="Deployment", verified={"space_tier": "production"}),
        "use_confighub",
        None,
        reason("context kind-payments looks local, but the space's tier production"),
        lambda d: d.context_class == "production",
    ),
    row(
        "dev-named-space-tier-production",
        dict(context="minikube", space="dev-payments", kind="Deployment", verified={"space_tier": "production"}),
        "use_confighub",
        None,
        reason("has the tier production in the authority"),
    ),
    row(
        "local-context-staging-tier-stays-local",
        dict(context="kind-dev", space="payments-qa", kind="Deployment", verified={"space_tier": "staging"}),
        "bypass",
        2,
        fact("production", "verified", verified="tier staging", used="not production"),
    ),
    # ---- platform and observability by component, not namespace -------------------------------
    row(
        "app-in-monitoring-namespace",
        dict(context="production", document=web(name="checkout", namespace="monitoring")),
        "use_confighub",
        None,
        reason("The namespace monitoring is where observability components run, but a namespace alone is not evidence"),
        also=(),
    ),
    row(
        "app-in-argocd-namespace",
        dict(context="production", kind="ConfigMap", name="checkout-flags", namespace="argocd"),
        "use_confighub",
        None,
        reason("a namespace alone is not evidence"),
        reason("names a platform component, so criterion 3 does not hold"),
        also=(),
    ),
    row(
        "app-in-kube-system-under-declared-incident-is-break-glass-not-bootstrap",
        dict(
            context="production",
            document=web(name="checkout", namespace="kube-system"),
            incident_id="INC-8",
            verified=OPEN("INC-8"),
        ),
        "bypass_then_reconcile",
        4,
        capture_in_1h,
        also=(),
    ),
    row(
        "prometheus-by-image-in-monitoring",
        dict(
            context="production",
            document=with_image(web(name="metrics", namespace="monitoring"), "quay.io/prometheus/prometheus:v2.51.0"),
        ),
        "bypass",
        8,
        lambda d: any("image matching *prometheus/prometheus" in p for p in d.path),
    ),
    row(
        "fluent-bit-by-image-anywhere",
        dict(context="production", document=with_image(web(name="shipper"), "cr.fluentbit.io/fluent/fluent-bit:3.0")),
        "bypass",
        8,
    ),
    row(
        "argocd-by-image",
        dict(
            context="production",
            document=with_image(web(name="gitops", namespace="argocd"), "quay.io/argoproj/argocd:v2.10.1"),
        ),
        "bypass",
        3,
    ),
    row(
        "kyverno-by-name",
        dict(context="production", kind="Deployment", name="kyverno-admission-controller", namespace="kyverno"),
        "bypass",
        3,
    ),
    row(
        "servicemonitor-by-kind-in-app-namespace",
        dict(context="production", kind="ServiceMonitor", name="checkout", namespace="checkout"),
        "bypass",
        8,
    ),
    # ---- criterion 7 by reference ------------------------------------------------------------
    row(
        "live-sandbox-gives-criterion-7",
        dict(
            context="kind-agent",
            kind="Deployment",
            name="web",
            sandbox_id="sbx_01",
            verified=SANDBOX("sbx_01", "active", "5h"),
        ),
        "bypass",
        7,
        reason("the winning variant becomes a proposal via variant_promote"),
        lambda d: (
            d.reconciliation.kind == "winning_variant_proposal"
            and any("variant_promote" in s for s in d.reconciliation.steps)
        ),
        fact("sandbox", "verified", claimed="sbx_01", verified="active"),
        also=(2,),
    ),
    row(
        "live-sandbox-with-a-secret-keeps-the-secret-out",
        dict(
            context="staging",
            document=web(),
            secret_paths=["/spec/apiKey"],
            sandbox_id="sbx_01",
            verified=SANDBOX("sbx_01", "active", "1h"),
        ),
        "bypass",
        7,
        reason("Even in an ephemeral environment the secret value stays out of ConfigHub"),
        also=(5,),
    ),
    row(
        "destroyed-sandbox",
        dict(context="staging", document=web(), sandbox_id="sbx_01", verified=SANDBOX("sbx_01", "destroyed")),
        "use_confighub",
        None,
        reason("criterion 7 does not hold: it is destroyed"),
    ),
    row(
        "expired-sandbox",
        dict(context="staging", document=web(), sandbox_id="sbx_01", verified=SANDBOX("sbx_01", "expired")),
        "use_confighub",
        None,
        reason("it is expired"),
    ),
    row(
        "unknown-sandbox",
        dict(context="staging", document=web(), sandbox_id="sbx_zz", verified=SANDBOX("sbx_zz", "unknown")),
        "use_confighub",
        None,
        reason("cublab holds no such sandbox"),
    ),
    row(
        "sandbox-id-not-looked-up",
        dict(context="staging", document=web(), sandbox_id="sbx_01"),
        "use_confighub",
        None,
        reason("cublab could not look it up"),
        fact("sandbox", "claimed", claimed="sbx_01", verified=None),
    ),
    row(
        "live-sandbox-in-production-context",
        dict(context="production", document=web(), sandbox_id="sbx_01", verified=SANDBOX("sbx_01", "active", "1h")),
        "use_confighub",
        None,
        reason("a production context never qualifies as a sandbox"),
    ),
    row(
        "live-sandbox-but-persist",
        dict(
            context="staging", document=web(), persist=True, sandbox_id="sbx_01", verified=SANDBOX("sbx_01", "active")
        ),
        "use_confighub",
        None,
        reason("persist=true"),
    ),
    # ---- criterion 6 from ownership: the seed's own examples, then desired state ------------------
    row(
        "c6-seed-current-state-status-currentReplicas",
        dict(context="production", document={"status": {"currentReplicas": 7}}),
        "bypass",
        6,
        observed("/status"),
    ),
    row(
        "c6-seed-pod-replica-count-managed-by-hpa",
        dict(
            context="production",
            document={
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "api", "ownerReferences": [{"kind": "HorizontalPodAutoscaler", "name": "api"}]},
                "spec": {"replicas": 7},
            },
        ),
        "bypass",
        6,
        observed("/spec/replicas"),
        reason("owned at run time by HorizontalPodAutoscaler (ownerReferences)"),
    ),
    row(
        "c6-seed-cache-contents-nested",
        dict(context="production", document={"kind": "ConfigMap", "data": {"cacheContents": {"user:1": "x"}}}),
        "bypass",
        6,
        observed("/data/cacheContents"),
    ),
    row(
        "c6-seed-session-data-nested",
        dict(context="staging", document={"kind": "ConfigMap", "data": {"app": {"sessionData": {"s1": "x"}}}}),
        "bypass",
        6,
    ),
    row(
        "c6-seed-request-routing-weights-managed-by-service-mesh",
        dict(
            context="production",
            document={
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "web", "labels": {"app.kubernetes.io/managed-by": "istio"}},
                "spec": {"http": [{"route": [{"weight": 80}, {"weight": 20}]}]},
            },
        ),
        "bypass",
        6,
        observed("/spec/http/0/route/0/weight", "/spec/http/0/route/1/weight"),
        reason("ConfigHub Is Not a Service Mesh Control Plane"),
    ),
    row(
        "c6-mesh-weights-beside-desired-routes-part-only",
        dict(
            context="production",
            document={
                "apiVersion": "split.smi-spec.io/v1alpha2",
                "kind": "TrafficSplit",
                "metadata": {"name": "web", "labels": {"app.kubernetes.io/managed-by": "linkerd"}},
                "spec": {
                    "service": "web",
                    "backends": [{"service": "web-v1", "weight": 90}, {"service": "web-v2", "weight": 10}],
                },
            },
        ),
        "use_confighub",
        None,
        observed("/spec/backends/0/weight", "/spec/backends/1/weight"),
        reason("observed part only"),
        also=(6,),
    ),
    row(
        "c6-keda-scaled-replicas",
        dict(
            context="production",
            document={
                "kind": "Deployment",
                "metadata": {"name": "worker", "annotations": {"scaledobject.keda.sh/name": "worker"}},
                "spec": {"replicas": 12},
            },
        ),
        "bypass",
        6,
    ),
    row(
        "c6-cluster-autoscaler-desired-size-deep",
        dict(
            context="production",
            document={
                "kind": "NodeGroup",
                "metadata": {"name": "ng-1", "labels": {"app.kubernetes.io/managed-by": "cluster-autoscaler"}},
                "spec": {"forProvider": {"scalingConfig": [{"desiredSize": 6}]}},
            },
        ),
        "bypass",
        6,
        observed("/spec/forProvider/scalingConfig/0/desiredSize"),
    ),
    row(
        "c6-seed-desired-state-autoscaling-bounds-go-to-confighub",
        dict(
            context="production",
            document={"kind": "Deployment", "spec": {"autoscaling": {"minReplicas": 2, "maxReplicas": 10}}},
        ),
        "use_confighub",
        None,
        observed(),
        also=(),
    ),
    row(
        "c6-weight-without-an-owner-is-desired",
        dict(
            context="production", document={"kind": "VirtualService", "spec": {"http": [{"route": [{"weight": 100}]}]}}
        ),
        "use_confighub",
        None,
        observed(),
    ),
    # ---- references go to the authority ------------------------------------------------------
    row(
        "secret-of-references-only",
        dict(
            context="production",
            document={
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db"},
                "stringData": {"password": "vault://kv/messagewall/db#password", "token": "${API_TOKEN}"},
            },
        ),
        "use_confighub",
        None,
        reason("holds secret references only (/stringData/password, /stringData/token)"),
        fact("secrets", "verified", used="references: ordinary configuration"),
        lambda d: d.secrets is None,
        also=(),
    ),
    row(
        "secret-data-base64-of-a-reference",
        dict(
            context="staging",
            document={
                "kind": "Secret",
                "data": {"password": base64.b64encode(b"awssm://messagewall/db").decode()},
            },
        ),
        "use_confighub",
        None,
        also=(),
    ),
    row(
        "secret-mixing-literal-and-reference",
        dict(
            context="production",
            document={"kind": "Secret", "stringData": {"password": "hunter2-literal", "url": "vault://kv/db#url"}},
        ),
        "bypass",
        5,
        lambda d: d.secrets is not None and d.secrets.paths == ["/stringData/password"],
    ),
    row(
        "deployment-with-secretRef-only",
        dict(
            context="production",
            document={"kind": "Deployment", "spec": {"databaseCredentials": {"secretRef": {"name": "db-creds"}}}},
        ),
        "use_confighub",
        None,
        lambda d: d.secrets is None,
    ),
    # ---- what may hold in production, as the seed says -----------------------------------------
    row("prod-platform-3", dict(context="production", kind="ClusterIssuer", name="letsencrypt"), "bypass", 3),
    row(
        "prod-secret-5",
        dict(context="production", document=web(), secret_paths=["/spec/template/spec/containers/0/env/0/value"]),
        "bypass",
        5,
    ),
    row("prod-observed-6", dict(context="production", kind="Lease", name="leader"), "bypass", 6),
    row("prod-observability-8", dict(context="production", kind="PodMonitor", name="api"), "bypass", 8),
]


@pytest.mark.parametrize(("facts", "verdict", "criterion", "also", "checks"), TABLE)
def test_evidence_table(facts, verdict, criterion, also, checks) -> None:
    d = decide(ChangeFacts(**facts), POLICY)
    assert d.verdict == verdict, (d.path, d.reasons)
    assert (d.criterion.number if d.criterion else None) == criterion, (d.path, d.reasons)
    if also is not None:
        assert [a.number for a in d.also_matched] == list(also)
    for check in checks:
        result = check(d)
        assert result is None or result, (d.path, d.reasons)


def test_the_strictness_order_is_defined_once() -> None:
    assert sorted(STRICTNESS, key=STRICTNESS.get) == ["bypass", "bypass_then_reconcile", "use_confighub"]
    assert stricter("bypass", "use_confighub") == "use_confighub"
    assert stricter("bypass_then_reconcile", "bypass") == "bypass_then_reconcile"


SECRET_LABEL = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"


def test_a_label_value_is_never_quoted_in_the_decision() -> None:
    """Reasons name the label and the pattern it matched, never the value (the decision is stored)."""
    for labels in (
        {"ttl": SECRET_LABEL},
        {"app.kubernetes.io/name": f"argocd-{SECRET_LABEL}"},
        {"app.kubernetes.io/managed-by": f"istio-{SECRET_LABEL}"},
    ):
        doc = {
            "kind": "VirtualService",
            "metadata": {"name": "web", "labels": labels},
            "spec": {"http": [{"route": [{"weight": 1}]}]},
        }
        d = decide(ChangeFacts(context="production", document=doc, secret_paths=["/metadata/labels/ttl"]), POLICY)
        assert SECRET_LABEL not in d.model_dump_json()


def test_a_flagged_document_name_is_not_quoted() -> None:
    doc = {"kind": "Deployment", "metadata": {"name": f"argocd-{SECRET_LABEL}"}}
    d = decide(ChangeFacts(context="production", document=doc, secret_paths=["/metadata/name"]), POLICY)
    assert d.criterion is not None and d.criterion.number == 3
    assert SECRET_LABEL not in d.model_dump_json()


# ---- properties ----------------------------------------------------------------------------------

KINDS = ["", "Deployment", "ConfigMap", "Secret", "ServiceMonitor", "Provider", "Event", "TestEnvironment", "Job"]
NAMES = ["", "web", "argocd-server", "prometheus", "fluent-bit", "checkout"]
CONTEXTS = [
    "local",
    "ci",
    "preview",
    "sandbox",
    "staging",
    "qa",
    "production",
    "prod-eu",
    "kind-dev",
    "kind-prod",
    "minikube",
]
SPACES = [None, "messagewall-prod", "messagewall-dev", "payments"]
NAMESPACES = [None, "default", "argocd", "monitoring", "kube-system", "prod"]
TIERS = [None, "", "production", "staging", "dev"]
DOCUMENTS = [
    None,
    WEB,
    with_image(web(namespace="monitoring"), "prom/prometheus:v2"),
    {
        "kind": "Deployment",
        "spec": {"replicas": 5, "autoscaling": {"minReplicas": 1}},
        "status": {"currentReplicas": 5},
    },
    {"kind": "HorizontalPodAutoscaler", "status": {"currentReplicas": 3}},
    {"kind": "Secret", "stringData": {"password": "vault://kv/x#y"}},
    {"kind": "Secret", "stringData": {"password": "hunter2-literal"}},
    {"services": {"db": {"image": "postgres"}}},
    {"scrape_configs": [{"job_name": "x"}]},
]
TTLS = [None, timedelta(minutes=30), timedelta(hours=2), timedelta(hours=72), timedelta(days=5)]


@st.composite
def evidence(draw, incident_id: str | None, sandbox_id: str | None) -> Evidence:
    incident = None
    if incident_id is not None and draw(st.booleans()):
        incident = {"id": incident_id, "state": draw(st.sampled_from(["open", "closed", "undeclared"]))}
    sandbox = None
    if sandbox_id is not None and draw(st.booleans()):
        state = draw(st.sampled_from(["active", "expired", "destroyed", "unknown"]))
        sandbox = {"id": sandbox_id, "state": state, "remaining": timedelta(hours=3) if state == "active" else None}
    return Evidence.model_validate(
        {
            "confighub_reachable": draw(st.sampled_from([None, True, False])),
            "space_tier": draw(st.sampled_from(TIERS)),
            "incident": incident,
            "sandbox": sandbox,
        }
    )


@st.composite
def changes(draw, *, sandbox_experiment: bool = True) -> ChangeFacts:
    """Any change, with or without evidence; labels hold no claims (the properties add them)."""
    incident_id = draw(st.sampled_from([None, None, "INC-1"]))
    sandbox_id = draw(st.sampled_from([None, None, "sbx_1"]))
    return ChangeFacts(
        kind=draw(st.sampled_from(KINDS)),
        name=draw(st.sampled_from(NAMES)),
        space=draw(st.sampled_from(SPACES)),
        namespace=draw(st.sampled_from(NAMESPACES)),
        context=draw(st.sampled_from(CONTEXTS)),
        labels=draw(st.sampled_from([{}, {"team": "payments"}, {"app.kubernetes.io/part-of": "argocd"}])),
        ttl=draw(st.sampled_from(TTLS)),
        persist=draw(st.sampled_from([None, True, False])),
        document=draw(st.sampled_from(DOCUMENTS)),
        incident_id=incident_id,
        sandbox_id=sandbox_id,
        adds_value=draw(st.sampled_from([None, True])),
        secret_paths=draw(st.sampled_from([[], ["/spec/apiKey"]])),
        is_sandbox_experiment=draw(st.booleans()) if sandbox_experiment else False,
        verified=draw(evidence(incident_id, sandbox_id)),
    )


def _with(change: ChangeFacts, **update: Any) -> ChangeFacts:
    return ChangeFacts.model_validate({**change.model_dump(), **update})


def _level(change: ChangeFacts) -> int:
    return strictness(decide(change, POLICY))


def _criteria(d: BypassDecision) -> set[int]:
    return {a.number for a in d.also_matched} | ({d.criterion.number} if d.criterion else set())


CLAIMS = st.sampled_from(["reachable", "unreachable", "incident", "bypass_label", "adds_no_value"])


@FAST
@given(changes(), CLAIMS, st.sampled_from([None, "undeclared", "closed"]))
def test_a_claim_never_loosens_the_verdict(change: ChangeFacts, claim: str, incident_state: str | None) -> None:
    """Universal: a reachability claim, an undeclared (or closed, or unchecked) incident id,
    `bypass-confighub: "true"`, or `adds_value=false` can only make the answer stricter."""
    if claim in ("reachable", "unreachable"):
        assume(change.confighub_reachable is None)
        claimed = _with(change, confighub_reachable=claim == "reachable")
    elif claim == "incident":
        assume(change.incident_id is None)
        verified = change.verified.model_dump()
        verified["incident"] = None if incident_state is None else {"id": "INC-9", "state": incident_state}
        claimed = _with(change, incident_id="INC-9", verified=verified)
    elif claim == "bypass_label":
        claimed = _with(change, labels={**change.labels, "bypass-confighub": "true"})
    else:
        assume(change.adds_value is None)
        claimed = _with(change, adds_value=False)
    assert _level(claimed) >= _level(change), (decide(change, POLICY).path, decide(claimed, POLICY).path)


TTL_CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "ephemeral": st.just("true"),
        "ttl": st.sampled_from(["15m", "2h", "48h", "72h", "5d", "soon"]),
        "field": st.sampled_from([timedelta(minutes=10), timedelta(hours=6), timedelta(days=4)]),
    },
)


def _add_ttl_claims(change: ChangeFacts, claims: dict[str, Any]) -> ChangeFacts:
    labels = dict(change.labels)
    for key in ("ephemeral", "ttl"):
        if key in claims:
            labels.setdefault(key, claims[key])
    ttl = change.ttl if change.ttl is not None else claims.get("field")
    return _with(change, labels=labels, ttl=ttl)


@FAST
@given(changes(sandbox_experiment=False), TTL_CLAIMS)
def test_ttl_and_ephemeral_labels_never_loosen_production_or_an_incident(change: ChangeFacts, claims) -> None:
    """ttl labels describe the change: they count as evidence of cleanup only outside production and
    without an incident, per the seed's own example. For every production-like change and every
    change under an incident (declared or not), adding them never makes the verdict less strict.
    (`is_sandbox_experiment` is left out: it is set by sandbox_spawn with cublab's own ttl, not claimed.)"""
    before = decide(change, POLICY)
    assume(before.context_class == "production" or change.incident_id is not None)
    after = decide(_add_ttl_claims(change, claims), POLICY)
    assert strictness(after) >= strictness(before), (before.path, after.path)


@FAST
@given(changes(sandbox_experiment=False), TTL_CLAIMS)
def test_ttl_claims_never_loosen_a_persistent_change(change: ChangeFacts, claims) -> None:
    """Where else it holds: `persist=true` outranks any ttl."""
    assume(change.persist is True)
    after = _add_ttl_claims(change, claims)
    assert _level(after) >= _level(change)


PRODUCTION_LIKE = st.sampled_from(["context", "space", "namespace", "tier"])


@FAST
@given(changes(), PRODUCTION_LIKE)
def test_more_production_like_never_loosens(change: ChangeFacts, how: str) -> None:
    if how == "context":
        prod = _with(change, context="production")
    elif how == "space":
        prod = _with(change, space="messagewall-prod")
    elif how == "namespace":
        prod = _with(change, namespace="prod")
    else:
        prod = _with(change, verified={**change.verified.model_dump(), "space_tier": "production"})
    d = decide(prod, POLICY)
    assert d.context_class == "production"
    assert strictness(d) >= _level(change), (decide(change, POLICY).path, d.path)


@FAST
@given(changes())
def test_production_never_gets_criterion_1_2_or_7(change: ChangeFacts) -> None:
    d = decide(change, POLICY)
    if d.context_class == "production":
        assert not _criteria(d) & {1, 2, 7}, d.path


@FAST
@given(changes(), st.sampled_from(["context", "tier"]))
def test_in_production_only_criteria_3_4_5_6_and_8_can_hold(change: ChangeFacts, how: str) -> None:
    prod = (
        _with(change, context="production")
        if how == "context"
        else _with(change, verified={**change.verified.model_dump(), "space_tier": "production"})
    )
    assert _criteria(decide(prod, POLICY)) <= {3, 4, 5, 6, 8}


@FAST
@given(changes())
def test_break_glass_rests_on_evidence(change: ChangeFacts) -> None:
    """bypass_then_reconcile needs cublab's own probe failing or a declared, open incident; and when
    it rests on the probe alone the answer says an incident must still be declared."""
    d = decide(change, POLICY)
    ev = change.verified
    declared = (
        change.incident_id is not None
        and ev.incident is not None
        and ev.incident.id == change.incident_id
        and ev.incident.state == "open"
    )
    if d.verdict == "bypass_then_reconcile":
        assert ev.confighub_reachable is False or declared
        assert d.must_declare_incident is (not declared)
        assert d.reconciliation.must_declare_incident is d.must_declare_incident
    if d.must_declare_incident:
        assert not declared
        assert any("breakglass_declare" in r for r in d.reasons)


@FAST
@given(changes())
def test_criterion_7_rests_on_a_sandbox_cublab_holds(change: ChangeFacts) -> None:
    d = decide(change, POLICY)
    if 7 in _criteria(d):
        live = change.verified.sandbox is not None and change.verified.sandbox.state == "active"
        assert change.is_sandbox_experiment or (live and change.verified.sandbox.id == change.sandbox_id)
        assert d.context_class != "production" and change.persist is not True


@FAST
@given(changes())
def test_every_fact_says_where_it_came_from(change: ChangeFacts) -> None:
    d = decide(change, POLICY)
    facts = {f.fact: f for f in d.facts}
    assert {"production", "confighub_reachable"} <= set(facts)
    for f in d.facts:
        if f.basis == "verified":
            assert f.verified is not None, f
        if f.basis == "none":
            assert f.claimed is None and f.verified is None, f
    if change.incident_id:
        assert facts["incident"].claimed == change.incident_id
    reach = facts["confighub_reachable"]
    if change.verified.confighub_reachable is not False:
        assert reach.used == "reachable"  # no claim alone makes ConfigHub unreachable
    elif change.confighub_reachable is not True:
        assert reach.used == "unreachable" and reach.basis == "verified"
    else:  # they disagree: whichever reading gave the stricter verdict
        assert any("decided under both readings" in r for r in d.reasons)
