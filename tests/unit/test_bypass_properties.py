"""Properties of the bypass engine that must hold for any change, not just the table's."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cublab.domain.bypass import ChangeFacts, decide, sandbox_eligibility
from cublab.policies import load_policy

POLICY = load_policy().policy.bypass
SECRET_VALUE = "s3cr3t-literal-value-do-not-store"
FAST = settings(max_examples=200, deadline=None)

KINDS = [
    "",
    "Deployment",
    "ConfigMap",
    "Secret",
    "ServiceMonitor",
    "Provider",
    "Event",
    "TestEnvironment",
    "DaemonSet",
    "Sandbox",
]
NAMES = ["", "web", "argocd-server", "confighub-worker", "prometheus", "fluent-bit", "datadog-agent", "api"]
CONTEXTS = [
    "local",
    "ci",
    "preview",
    "sandbox",
    "staging",
    "production",
    "prod-eu",
    "kind-dev",
    "kind-prod",
    "minikube",
    "docker-desktop",
    "k3d-x",
    "qa",
    "preview-pr-9",
    "localhost",
]
SPACES = [None, "messagewall-prod", "messagewall-dev", "platform"]
NAMESPACES = [None, "default", "argocd", "monitoring", "kube-system", "prod"]
LABELS = st.dictionaries(
    st.sampled_from(["ephemeral", "ttl", "bypass-confighub", "app.kubernetes.io/part-of", "team"]),
    st.sampled_from(["true", "false", "2h", "5d", "argocd", "soon", "web"]),
    max_size=4,
)


def _documents() -> st.SearchStrategy:
    plain = st.just(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}
    )
    observed = st.just(
        {
            "kind": "Deployment",
            "spec": {"replicas": 5, "autoscaling": {"minReplicas": 1}},
            "status": {"currentReplicas": 5},
        }
    )
    status_only = st.just({"kind": "HorizontalPodAutoscaler", "status": {"currentReplicas": 3}})
    secret = st.just(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": SECRET_VALUE}}
    )
    with_literal = st.just({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"password": SECRET_VALUE}})
    compose = st.just({"services": {"db": {"image": "postgres"}}})
    scrape = st.just({"scrape_configs": [{"job_name": "x"}]})
    return st.none() | plain | observed | status_only | secret | with_literal | compose | scrape


@st.composite
def facts(draw) -> ChangeFacts:
    document = draw(_documents())
    secret_paths = ["/spec/password"] if document and document.get("spec", {}).get("password") == SECRET_VALUE else []
    secret_paths += draw(st.sampled_from([[], [], ["/spec/apiKey"]]))
    ttl = draw(st.none() | st.integers(min_value=60, max_value=10 * 86400).map(lambda s: timedelta(seconds=s)))
    return ChangeFacts(
        kind=draw(st.sampled_from(KINDS)),
        name=draw(st.sampled_from(NAMES)),
        space=draw(st.sampled_from(SPACES)),
        namespace=draw(st.sampled_from(NAMESPACES)),
        context=draw(st.sampled_from(CONTEXTS)),
        labels=draw(LABELS),
        ttl=ttl,
        persist=draw(st.sampled_from([None, True, False])),
        document=document,
        confighub_reachable=draw(st.booleans()),
        incident_id=draw(st.sampled_from([None, "INC-1"])),
        adds_value=draw(st.sampled_from([None, True, False])),
        secret_paths=secret_paths,
        is_sandbox_experiment=draw(st.booleans()),
    )


@FAST
@given(facts())
def test_exactly_one_verdict_and_a_criterion_consistent_with_it(change: ChangeFacts) -> None:
    d = decide(change, POLICY)
    assert d.verdict in ("bypass", "bypass_then_reconcile", "use_confighub")
    assert d.path[0].startswith("Is this configuration that should persist?") and d.path[-1].startswith("-> ")
    also = [a.number for a in d.also_matched]
    assert also == sorted(set(also))
    if d.verdict == "use_confighub":
        # No criterion, nothing owed; a bypass label, if any, is refused in so many words.
        assert d.criterion is None and d.reconciliation is None and d.audit_requirement is None
        bypass_label = change.labels.get(
            "bypass-confighub",
            (change.document or {}).get("metadata", {}).get("labels", {}).get("bypass-confighub", ""),
        )
        assert (d.refused_label is not None) == (bypass_label.lower() == "true")
    else:
        # Any bypass names exactly one criterion whose reconciliation matches the verdict:
        # 'required' (criterion 4) <=> bypass_then_reconcile.
        assert d.criterion is not None and d.criterion.number not in also
        kind = POLICY.criterion(d.criterion.number).reconciliation.kind
        assert d.reconciliation.kind == kind
        assert (kind == "required") == (d.verdict == "bypass_then_reconcile") == (d.criterion.number == 4)
        assert d.audit_requirement == POLICY.criterion(d.criterion.number).audit.requirement
        assert d.refused_label is None


@FAST
@given(facts())
def test_a_deadline_exactly_when_the_seed_requires_one(change: ChangeFacts) -> None:
    d = decide(change, POLICY)
    has_deadline = d.reconciliation is not None and d.reconciliation.capture_within is not None
    assert has_deadline == (d.verdict == "bypass_then_reconcile")
    if has_deadline:
        assert d.reconciliation.capture_within == timedelta(hours=1)
        assert d.reconciliation.review_within == timedelta(hours=24)
        assert d.reconciliation.must_declare_incident == (change.incident_id is None)
    elif d.reconciliation is not None:
        assert d.reconciliation.review_within is None and not d.reconciliation.must_declare_incident


@FAST
@given(facts())
def test_secrets_never_go_in_confighub(change: ChangeFacts) -> None:
    d = decide(change, POLICY)
    if change.secret_paths or (change.kind or (change.document or {}).get("kind")) == "Secret":
        assert d.verdict != "use_confighub"
        assert d.secrets is not None
        assert set(change.secret_paths) <= set(d.secrets.paths)
        assert "secrets manager" in d.secrets.value_in and "reference" in d.secrets.reference_in
        assert 5 in [a.number for a in d.also_matched] + ([d.criterion.number] if d.criterion else [])
    else:
        assert d.secrets is None
    assert SECRET_VALUE not in d.model_dump_json()


@FAST
@given(facts())
def test_production_and_long_lifetimes_never_qualify_as_local_sandbox_or_ephemeral(change: ChangeFacts) -> None:
    d = decide(change, POLICY)
    matched = {a.number for a in d.also_matched} | ({d.criterion.number} if d.criterion else set())
    if d.context_class == "production":
        assert not matched & {2, 7}
    if change.ttl is not None and change.ttl > POLICY.ephemeral.max_ttl:
        assert not matched & {1, 7}
    if change.persist is True:
        assert not matched & {1, 7}


@FAST
@given(facts())
def test_deterministic(change: ChangeFacts) -> None:
    again = ChangeFacts.model_validate(change.model_dump())
    assert decide(change, POLICY) == decide(again, POLICY)


@FAST
@given(
    st.sampled_from(CONTEXTS),
    st.none() | st.integers(min_value=60, max_value=10 * 86400).map(lambda s: timedelta(seconds=s)),
    st.sampled_from([[], ["/x/password"]]),
    st.sampled_from(SPACES),
)
def test_sandbox_eligible_iff_criterion_7_without_problems(context, ttl, secret_paths, space) -> None:
    result = sandbox_eligibility(POLICY, ttl=ttl, context=context, secret_paths=secret_paths, space=space)
    expected = (
        result.decision.context_class != "production"
        and ttl is not None
        and ttl <= POLICY.ephemeral.max_ttl
        and not secret_paths
    )
    assert result.eligible == expected
    assert result.eligible == (not result.problems)
    if result.eligible:
        assert result.decision.criterion.number == 7
