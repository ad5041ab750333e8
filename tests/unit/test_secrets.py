"""The secret gate: a corpus of literal secrets (all refused) and of references and look-alikes (all accepted).

The literal values are fakes in the providers' formats, assembled from parts so that this file
itself does not trip secret scanners.
"""

from __future__ import annotations

import base64
import json

import pytest

from cublab.domain.secrets import (
    Finding,
    find_secrets,
    find_secrets_in_text,
    is_reference,
    json_pointer,
    secret_gate_message,
)

A = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _fake(n: int, offset: int = 0) -> str:
    """A fixed, random-looking token of length n (deterministic so failures reproduce)."""
    return "".join(A[(i * 37 + offset * 11 + (i * i) % 7) % len(A)] for i in range(n))


def _jwt() -> str:
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": "1234567890", "admin": True}) + "." + _fake(43, 3)


PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA" + _fake(60, 1) + "\n-----END RSA PRIVATE KEY-----\n"
OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
    + _fake(40, 2)
    + "\n-----END OPENSSH PRIVATE KEY-----"
)
EC_PEM = "-----BEGIN EC PRIVATE KEY-----\n" + _fake(64, 4) + "\n-----END EC PRIVATE KEY-----"
PKCS8 = "-----BEGIN PRIVATE KEY-----\n" + _fake(64, 5) + "\n-----END PRIVATE KEY-----"
AWS_ID = "AKIA" + "IOSFODNN7" + "ZQXWYV3"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzQ8v4KplLm2N"

# (document, JSON path of the finding, a kind the finding must have or None for "any")
LITERALS: list[tuple[str, dict | list, str, str | None]] = [
    ("aws access key id in env", {"env": [{"name": "A", "value": AWS_ID}]}, "/env/0/value", "aws-access-key"),
    ("aws access key under plain key", {"spec": {"accessKeyId": AWS_ID}}, "/spec/accessKeyId", "aws-access-key"),
    ("aws secret under secret name", {"aws_secret_access_key": AWS_SECRET}, "/aws_secret_access_key", None),
    ("aws secret under neutral key", {"config": {"value": AWS_SECRET}}, "/config/value", "high-entropy"),
    ("rsa private key block", {"tls": {"key": PEM}}, "/tls/key", "private-key"),
    ("openssh private key", {"ssh": {"identity": OPENSSH}}, "/ssh/identity", "private-key"),
    ("ec private key", {"signer": EC_PEM}, "/signer", "private-key"),
    ("pkcs8 private key", {"gcp": {"sa": PKCS8}}, "/gcp/sa", "private-key"),
    (
        "postgres url credentials",
        {"db": {"url": "postgres://app:" + "S3cr3t-pw" + "@db:5432/app"}},
        "/db/url",
        "url-credentials",
    ),
    ("amqp url credentials", {"broker": "amqp://guest:" + "Gu3st!pass" + "@rabbit/"}, "/broker", "url-credentials"),
    (
        "https url credentials",
        {"repo": "https://bot:" + "hunter22" + "@git.example.com/x.git"},
        "/repo",
        "url-credentials",
    ),
    ("password", {"spec": {"db": {"password": "hunter2"}}}, "/spec/db/password", "secret-named-key"),
    ("passwd", {"passwd": "letmein"}, "/passwd", "secret-named-key"),
    ("db_password snake", {"db_password": "correct horse battery"}, "/db_password", "secret-named-key"),
    ("DB-PASSWORD kebab", {"DB-PASSWORD": "pa55"}, "/DB-PASSWORD", "secret-named-key"),
    ("numeric password", {"password": 123456}, "/password", "secret-named-key"),
    ("client secret", {"oauth": {"clientSecret": "q8Zp2v"}}, "/oauth/clientSecret", "secret-named-key"),
    ("api_key", {"api_key": "abc123def"}, "/api_key", "secret-named-key"),
    ("apiKey camel", {"vendor": {"apiKey": "k-42-xyz"}}, "/vendor/apiKey", "secret-named-key"),
    ("token", {"token": "mytoken"}, "/token", "secret-named-key"),
    ("private_key", {"private_key": "deadbeef"}, "/private_key", "secret-named-key"),
    ("access_key", {"access_key": "abcd1234"}, "/access_key", "secret-named-key"),
    ("credentials", {"credentials": "user:pass"}, "/credentials", "secret-named-key"),
    ("bare secret member", {"webhook": {"secret": "whsec-local"}}, "/webhook/secret", "secret-named-key"),
    (
        "k8s env named secret",
        {"env": [{"name": "x"}, {"name": "y"}, {"name": "z"}, {"name": "DB_PASSWORD", "value": "pw"}]},
        "/env/3/value",
        "secret-named-key",
    ),
    ("jwt", {"auth": {"bearer": _jwt()}}, "/auth/bearer", "jwt"),
    ("github classic token", {"ci": {"gh": "ghp_" + _fake(36, 6)}}, "/ci/gh", "github-token"),
    ("github fine-grained token", {"gh": "github_pat_" + _fake(22, 7) + "_" + _fake(59, 8)}, "/gh", "github-token"),
    ("gitlab token", {"gl": "glpat-" + _fake(20, 9)}, "/gl", "gitlab-token"),
    (
        "slack bot token",
        {"notify": "xoxb-" + "123456789012-123456789012-" + _fake(24, 10).lower()},
        "/notify",
        "slack-token",
    ),
    (
        "slack webhook",
        {"hook": "https://hooks.slack.com/services/T" + "ABCDEFGH/B12345678/" + _fake(24, 11)},
        "/hook",
        "slack-token",
    ),
    ("stripe live key", {"billing": "sk_live_" + _fake(24, 12)}, "/billing", "stripe-key"),
    ("stripe test key", {"billing": "sk_test_" + _fake(24, 13)}, "/billing", "stripe-key"),
    ("sendgrid key", {"mail": "SG." + _fake(22, 14) + "." + _fake(43, 15)}, "/mail", "sendgrid-key"),
    ("google api key", {"maps": "AIza" + _fake(35, 16)}, "/maps", "google-api-key"),
    ("anthropic key", {"llm": "sk-ant-api03-" + _fake(80, 17)}, "/llm", "anthropic-key"),
    ("openai project key", {"llm": "sk-proj-" + _fake(48, 18)}, "/llm", "openai-key"),
    ("twilio key", {"sms": "SK" + "0123456789abcdef0123456789abcdef"}, "/sms", "twilio-key"),
    ("npm token", {"npmrc": "//registry.npmjs.org/:_authToken=npm_" + _fake(36, 19)}, "/npmrc", "npm-token"),
    (
        "azure storage key",
        {"conn": "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + (_fake(86, 20) + "==")},
        "/conn",
        "azure-storage-key",
    ),
    (
        "random base64 under neutral key",
        {"data": {"blob": base64.b64encode(bytes(range(7, 47))).decode()}},
        "/data/blob",
        "high-entropy",
    ),
    (
        "embedded assignment in a string",
        {"script": "export API_KEY=Zx81-qq-Pt7 && run"},
        "/script",
        "secret-assignment",
    ),
    ("secret in a key's list", {"args": ["--verbose", "--password=Hunter2!"]}, "/args/1", "secret-assignment"),
    ("literal default of env ref", {"password": "${DB_PASSWORD:-hunter2}"}, "/password", None),
]


@pytest.mark.parametrize(("doc", "path", "kind"), [c[1:] for c in LITERALS], ids=[c[0] for c in LITERALS])
def test_literal_secret_is_refused_at_its_path(doc, path, kind):
    findings = find_secrets(doc)
    assert findings, "a literal secret passed the gate"
    assert path in {f.path for f in findings}, findings
    if kind is not None:
        assert kind in {f.kind for f in findings if f.path == path}, findings
    message = secret_gate_message(findings, "variant config")
    assert path in message
    for secret in _leaves(doc):
        if secret and len(secret) >= 4 and secret not in ("name", "value"):
            assert secret not in message
            assert all(secret not in str(f) and secret not in repr(f) for f in findings)


def test_corpus_sizes_meet_the_issue():
    assert len(LITERALS) >= 30
    assert len(ACCEPTED) >= 20


def _leaves(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _leaves(v)
    elif isinstance(node, list):
        for v in node:
            yield from _leaves(v)
    elif isinstance(node, str):
        yield node
        # parts of a structured literal must not leak either
        for part in node.replace("@", " ").replace(":", " ").split():
            if len(part) >= 8:
                yield part
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield str(node)


SHA = "sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

ACCEPTED: list[tuple[str, object]] = [
    ("secretKeyRef object", {"password": {"secretKeyRef": {"name": "messagewall-db-creds", "key": "password"}}}),
    ("secretRef object", {"envFrom": [{"secretRef": {"name": "messagewall-db-creds"}}]}),
    (
        "k8s env valueFrom",
        {"env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]},
    ),
    ("vault uri", {"db": {"password": "vault://secret/data/messagewall/db#password"}}),
    ("1password uri", {"apiKey": "op://Platform/messagewall/api-key"}),
    ("env uri", {"token": "env://GITHUB_TOKEN"}),
    ("env var", {"password": "${DB_PASSWORD}"}),
    ("env var empty default", {"password": "${DB_PASSWORD:-}"}),
    ("env var with plain default", {"logLevel": "${LOG_LEVEL:-info}"}),
    (
        "aws secrets manager arn",
        {"clientSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:messagewall/db-AbC123"},
    ),
    ("awssm uri", {"password": "awssm://messagewall/prod/db"}),
    ("helm template", {"password": "{{ .Values.db.password }}"}),
    ("resource name", {"secretName": "messagewall-db-creds", "existingSecret": "messagewall-db-creds"}),
    ("policy knob named password", {"passwordPolicy": "strict", "passwordMinLength": 14}),
    ("ttl knob named token", {"tokenTTL": 3600, "tokenExpiry": "1h", "maxTokens": 4096}),
    ("booleans under secret names", {"token": True, "password": False, "useSecret": True}),
    ("empty and null secrets", {"password": "", "token": None}),
    ("placeholders", {"password": "<redacted>", "apiKey": "CHANGEME", "token": "***", "secret": "xxxxxxxx"}),
    ("image digest", {"image": "ghcr.io/acme/messagewall@" + SHA, "digest": SHA}),
    ("git commit sha", {"revision": "4b825dc642cb6eb9a060e54bf8d69288fbee4904"}),
    ("uuid", {"requestId": "123e4567-e89b-12d3-a456-426614174000"}),
    (
        "ordinary serverless config",
        {
            "awsAccountId": "123456789012",
            "region": "us-east-1",
            "resourcePrefix": "messagewall-prod",
            "lambdaMemory": 512,
            "lambdaTimeout": 30,
            "eventSource": "eventbridge",
            "artifactBucket": "messagewall-artifacts-123456789012",
            "environment": "production",
        },
    ),
    ("iam role arn", {"role": "arn:aws:iam::123456789012:role/service-role/MyLambdaExecutionRole-abc123XyZ"}),
    ("generated stack resource", {"function": "messagewall-prod-EventBridgeRule-A1B2C3D4E5"}),
    (
        "url with user but no password",
        {"repo": "https://git@github.com/acme/messagewall.git", "ssh": "ssh://deploy@host:22/srv"},
    ),
    ("url with referenced password", {"db": "postgres://app:${DB_PASSWORD}@db:5432/app"}),
    (
        "public certificate",
        {
            "caBundle": "-----BEGIN CERTIFICATE-----\n"
            + _fake(64, 21)
            + "\n"
            + _fake(64, 22)
            + "\n-----END CERTIFICATE-----"
        },
    ),
    ("short words and numbers", {"mode": "fast", "replicas": 3, "ratio": 0.25, "tags": ["a", "b"], "enabled": True}),
    ("gcp resource path", {"fn": "projects/my-project-123/locations/us-central1/functions/HandleOrderEvents2"}),
]


@pytest.mark.parametrize("doc", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_reference_or_lookalike_is_accepted(doc):
    assert find_secrets(doc) == []


@pytest.mark.parametrize(
    "value",
    [
        {"secretKeyRef": {"name": "db", "key": "password"}},
        {"secretRef": {"name": "db"}},
        {"name": "db", "key": "password", "namespace": "prod"},
        {"valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        "vault://kv/app#pw",
        "op://vault/item/field",
        "env://TOKEN",
        "${TOKEN}",
        "${TOKEN:-}",
        "$TOKEN",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-Ab12",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password",
    ],
)
def test_is_reference_accepts_the_grammar(value):
    assert is_reference(value)


@pytest.mark.parametrize(
    "value",
    [
        "hunter2",
        "${DB_PASSWORD:-hunter2}",
        {"name": "db", "password": "x"},
        {"secretKeyRef": "db"},
        42,
        None,
        "vault:/x",
    ],
)
def test_is_reference_refuses_literals_and_malformed_refs(value):
    assert not is_reference(value)


def test_json_pointer_escapes_tilde_and_slash():
    doc = {"annotations": {"example.com/token": "t0k3n-Value-9", "a~b": {"password": "pw-1"}}}
    paths = {f.path for f in find_secrets(doc)}
    assert paths == {"/annotations/example.com~1token", "/annotations/a~0b/password"}
    assert json_pointer(["a/b", "c~d", 3]) == "/a~1b/c~0d/3"


def test_nested_lists_report_indices():
    doc = {
        "spec": {"containers": [{"env": [{"name": "A", "value": "1"}, {"name": "API_TOKEN", "value": "plain-tok-9"}]}]}
    }
    assert find_secrets(doc) == [Finding("/spec/containers/0/env/1/value", "secret-named-key")]


def test_free_text_with_embedded_key():
    text = f"Raised memory to 512MB. For the benchmark I used key {AWS_ID} against the staging bucket."
    findings = find_secrets_in_text(text, "/rationale")
    assert [f.path for f in findings] == ["/rationale"]
    assert "aws-access-key" in {f.kind for f in findings}
    assert AWS_ID not in secret_gate_message(findings, "proposal rationale")


@pytest.mark.parametrize(
    "text",
    [
        "The password policy is unchanged; token: rotated monthly by the platform team.",
        "Use ${DB_PASSWORD} from vault://secret/db#password, never a literal.",
        "Lambda memory 256 -> 512 cut p99 latency by 31% over 40 samples (image sha256:" + "ab" * 32 + ").",
        "",
    ],
)
def test_free_text_without_secrets_passes(text):
    assert find_secrets_in_text(text) == []


def test_free_text_assignment_and_url_are_refused():
    assert {f.kind for f in find_secrets_in_text("set password=Sup3r-Secret in the env")} == {"secret-assignment"}
    assert {f.kind for f in find_secrets_in_text("db at mysql://root:Tr0ub4dor@10.0.0.5/app")} == {"url-credentials"}


def test_message_names_paths_kinds_and_reference_forms_never_values():
    doc = {"db": {"password": "hunter2-very-secret"}, "env": [{"name": "GH", "value": "ghp_" + _fake(36, 30)}]}
    findings = find_secrets(doc)
    message = secret_gate_message(findings, "variant_log.config")
    assert message.startswith("variant_log.config: 2 literal secrets")
    assert "/db/password (secret-named-key)" in message and "/env/0/value (github-token)" in message
    for form in ("secretKeyRef", "vault://", "op://", "env://", "${NAME}"):
        assert form in message
    assert "hunter2" not in message and "ghp_" not in message


def test_findings_are_deduplicated_and_stable():
    doc = {"password": "ghp_" + _fake(36, 31)}
    assert find_secrets(doc) == find_secrets(doc)
    assert len(find_secrets(doc)) == len(set(find_secrets(doc)))
