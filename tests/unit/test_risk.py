"""Risk classes and required decisions, as tables of the reference's examples (confighub.md section 2)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from cublab.domain.patch import make_patch
from cublab.domain.risk import PromotionPolicy, classify, required_decision

DEFAULT_YAML = Path(__file__).resolve().parents[2] / "server" / "cublab" / "policies" / "default.yaml"


@pytest.fixture(scope="module")
def policy() -> PromotionPolicy:
    # The shipped file's `promotion:` section, validated on its own so this table does not depend on
    # the other sections being complete.
    return PromotionPolicy.model_validate(yaml.safe_load(DEFAULT_YAML.read_text())["promotion"])


BASE = {
    "awsAccountId": "111111111111",
    "environment": "staging",
    "resourcePrefix": "messagewall",
    "region": "us-east-1",
    "lambdaMemory": 256,
    "lambdaTimeout": 10,
    "eventSource": "eventbridge",
    "artifactBucket": "mw-artifacts",
}
NEW = {
    "awsAccountId": "222222222222",
    "environment": "prod",
    "resourcePrefix": "mw",
    "region": "eu-west-1",
    "lambdaMemory": 512,
    "lambdaTimeout": 30,
    "eventSource": "sqs",
    "artifactBucket": "mw-artifacts-2",
}


def _change(*fields: str, nested: bool = False) -> list[dict]:
    target = dict(BASE) | {f: NEW[f] for f in fields}
    if nested:
        return make_patch({"spec": BASE}, {"spec": target})
    return make_patch(BASE, target)


# (id, ops, production, kwargs, expected level, words the rationale must contain)
ROWS = [
    # each field of the ServerlessEventApp table, in staging and production
    ("awsAccountId staging", _change("awsAccountId"), False, {}, "HIGH", ["awsAccountId", "cross-account"]),
    ("awsAccountId production", _change("awsAccountId"), True, {}, "HIGH", ["awsAccountId", "cross-account"]),
    ("environment staging", _change("environment"), False, {}, "MEDIUM", ["environment", "MEDIUM (lifecycle)"]),
    ("environment production", _change("environment"), True, {}, "HIGH", ["environment", "production tier +1"]),
    ("resourcePrefix staging", _change("resourcePrefix"), False, {}, "LOW", ["resourcePrefix", "LOW (identity)"]),
    (
        "resourcePrefix production",
        _change("resourcePrefix"),
        True,
        {},
        "MEDIUM",
        ["resourcePrefix", "production column"],
    ),
    ("region staging", _change("region"), False, {}, "MEDIUM", ["region", "MEDIUM (location)"]),
    ("region production", _change("region"), True, {}, "HIGH", ["region", "HIGH in production"]),
    ("lambdaMemory staging", _change("lambdaMemory"), False, {}, "LOW", ["lambdaMemory", "LOW (compute)"]),
    ("lambdaMemory production", _change("lambdaMemory"), True, {}, "MEDIUM", ["lambdaMemory", "MEDIUM in production"]),
    ("lambdaTimeout staging", _change("lambdaTimeout"), False, {}, "LOW", ["lambdaTimeout"]),
    ("lambdaTimeout production", _change("lambdaTimeout"), True, {}, "MEDIUM", ["lambdaTimeout", "production column"]),
    ("eventSource staging", _change("eventSource"), False, {}, "LOW", ["eventSource", "LOW (source)"]),
    ("eventSource production", _change("eventSource"), True, {}, "MEDIUM", ["eventSource", "production tier +1"]),
    ("artifactBucket staging", _change("artifactBucket"), False, {}, "MEDIUM", ["artifactBucket", "(source)"]),
    ("artifactBucket production", _change("artifactBucket"), True, {}, "HIGH", ["artifactBucket", "production column"]),
    # nested paths match the same field
    (
        "nested lambdaMemory",
        _change("lambdaMemory", nested=True),
        False,
        {},
        "LOW",
        ["lambdaMemory at /spec/lambdaMemory"],
    ),
    # same concern twice is one concern
    ("memory and timeout: one concern", _change("lambdaMemory", "lambdaTimeout"), False, {}, "LOW", ["lambdaTimeout"]),
    # two unrelated concerns +1
    (
        "compute and source: +1",
        _change("lambdaMemory", "eventSource"),
        False,
        {},
        "MEDIUM",
        ["2 unrelated concerns", "compute", "source"],
    ),
    (
        "compute and lifecycle: +1",
        _change("lambdaMemory", "environment"),
        False,
        {},
        "HIGH",
        ["unrelated concerns", "lifecycle"],
    ),
    # related concerns (identity and location) do not elevate
    (
        "prefix and region: related",
        _change("resourcePrefix", "region"),
        False,
        {},
        "MEDIUM",
        ["highest changed field is region"],
    ),
    # field not in the table: MEDIUM
    ("unclassified field", make_patch({"x": 1}, {"x": 2}), False, {}, "MEDIUM", ["/x (unclassified)", "default"]),
    # new unit / deletion
    (
        "new unit staging",
        make_patch({}, {"lambdaMemory": 512}),
        False,
        {"new_unit": True},
        "MEDIUM",
        ["creates a new unit"],
    ),
    (
        "new unit production",
        make_patch({}, {"lambdaMemory": 512}),
        True,
        {"new_unit": True},
        "HIGH",
        ["creates a new unit", "production tier"],
    ),
    ("delete unit", [], False, {"deletes_unit": True}, "HIGH", ["deletes the unit"]),
    (
        "remove a field",
        make_patch(BASE, {k: v for k, v in BASE.items() if k != "lambdaTimeout"}),
        False,
        {},
        "HIGH",
        ["deletion", "/lambdaTimeout"],
    ),
    # security
    (
        "iam role",
        make_patch({"lambdaMemory": 1}, {"lambdaMemory": 1, "executionRoleArn": "arn:aws:iam::1:role/x"}),
        False,
        {},
        "HIGH",
        ["security", "/executionRoleArn"],
    ),
    (
        "encryption",
        make_patch({"bucket": {"encryption": "none"}}, {"bucket": {"encryption": "aws:kms"}}),
        False,
        {},
        "HIGH",
        ["security", "/bucket/encryption"],
    ),
    (
        "network",
        make_patch({"vpc": {"securityGroupIds": ["sg-1"]}}, {"vpc": {"securityGroupIds": ["sg-2"]}}),
        False,
        {},
        "HIGH",
        ["security"],
    ),
    (
        "security inside a new unit",
        make_patch({}, {"spec": {"iam": {"policy": "x"}}}),
        False,
        {"new_unit": True},
        "HIGH",
        ["security", "/spec/iam"],
    ),
    # batches
    ("batch of 1", _change("lambdaMemory"), False, {"batch_size": 1}, "LOW", ["lambdaMemory"]),
    ("batch of 2", _change("lambdaMemory"), False, {"batch_size": 2}, "MEDIUM", ["batch of 2 resources: +1"]),
    ("batch of 5", _change("lambdaMemory"), False, {"batch_size": 5}, "MEDIUM", ["batch of 5 resources: +1"]),
    ("batch of 6", _change("lambdaMemory"), False, {"batch_size": 6}, "HIGH", ["batch of 6 resources (>= 6): HIGH"]),
    # the cap
    ("cap", _change("region", "lambdaMemory"), True, {"batch_size": 3}, "HIGH", ["capped at HIGH", "2 level(s)"]),
]


@pytest.mark.parametrize(
    ("ops", "production", "kwargs", "level", "words"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_risk_table(policy, ops, production, kwargs, level, words):
    options = {"new_unit": False} | kwargs
    result = classify(ops, production=production, policy=policy, **options)
    rationale = "\n".join(result.rationale)
    assert result.level == level, rationale
    for word in words:
        assert word in rationale, f"{word!r} not in rationale:\n{rationale}"
    assert result.rationale[-1] == f"risk class {level}"


def test_no_cap_message_when_not_capped(policy):
    result = classify(_change("lambdaMemory"), production=False, new_unit=False, policy=policy)
    assert not any("capped" in line for line in result.rationale)


def test_assessment_lists_fields_and_concerns(policy):
    result = classify(_change("lambdaMemory", "eventSource"), production=False, new_unit=False, policy=policy)
    assert result.fields == ["lambdaMemory", "eventSource"]
    assert result.concerns == ["compute", "source"]


def test_glob_field_keys_match_whole_pointer(policy):
    custom = policy.model_copy(update={"fields": policy.fields | {"/spec/*/replicas": policy.fields["lambdaMemory"]}})
    result = classify(
        make_patch({"spec": {"api": {"replicas": 1}}}, {"spec": {"api": {"replicas": 2}}}),
        production=False,
        new_unit=False,
        policy=custom,
    )
    assert result.level == "LOW"
    assert "/spec/*/replicas" in result.rationale[0]


DECISIONS = [
    ("LOW", False, "objection_window", 0, timedelta(minutes=5), "5m"),
    ("LOW", True, "objection_window", 0, timedelta(minutes=5), "without a human objection"),
    ("MEDIUM", False, "acknowledgment", 1, timedelta(hours=4), "treated as HIGH after 8h"),
    ("MEDIUM", True, "acknowledgment", 1, timedelta(hours=4), "1 human acknowledgment within 4h"),
    ("HIGH", False, "approval", 1, None, "1 explicit human approval"),
    ("HIGH", True, "approval", 2, None, "2 explicit approvals from distinct humans"),
]


@pytest.mark.parametrize(("level", "production", "kind", "needed", "window", "phrase"), DECISIONS)
def test_required_decision_table(policy, level, production, kind, needed, window, phrase):
    decision = required_decision(level, production=production, policy=policy)
    assert decision.kind == kind
    assert decision.approvals_needed == needed
    assert decision.window == window
    assert phrase in decision.describe()


def test_escalation_timings(policy):
    medium = required_decision("MEDIUM", production=False, policy=policy)
    assert medium.escalations == (timedelta(hours=4),) and medium.as_high_after == timedelta(hours=8)
    assert required_decision("HIGH", production=False, policy=policy).escalations == (
        timedelta(hours=4),
        timedelta(hours=24),
    )
    assert policy.proposal_expiry == timedelta(days=7)


def test_is_production_reads_the_tier_label(policy):
    assert policy.is_production({"tier": "production"})
    assert not policy.is_production({"tier": "staging"})
    assert not policy.is_production(None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_high_from": 2}, "batch_high_from"),
        ({"production_high_approvals": 0}, "production_high_approvals"),
        ({"medium_as_high_after": "1h"}, "medium_as_high_after"),
        ({"fields": {"x": {"risk": "SEVERE", "concern": "c"}}}, "fields"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_policy_section_is_validated(change, message):
    from pydantic import ValidationError

    data = yaml.safe_load(DEFAULT_YAML.read_text())["promotion"] | change
    with pytest.raises(ValidationError, match=message):
        PromotionPolicy.model_validate(data)
