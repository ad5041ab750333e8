"""The secret gate against a corpus: literal secret shapes across providers, each in several places of a
document (all refused, at the right JSON Pointer, never echoed), and legitimate look-alikes (all accepted).

No realistic token is written in this file: the random part of every token is generated at import time,
with a seeded RNG, from the provider's alphabet and length (only the public prefixes are literal).
"""

from __future__ import annotations

import base64
import json
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cublab.domain.secrets import Finding, find_secrets, find_secrets_in_text, is_reference, secret_gate_message

RNG = random.Random(0x5EC2E7)

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
ALPHA = string.ascii_letters
ALNUM = ALPHA + DIGITS
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
BECH32_UPPER = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def rand(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def mixed(alphabet: str, n: int) -> str:
    """A random string from `alphabet` that holds an upper, a lower and a digit where the alphabet has them."""
    while True:
        value = rand(alphabet, n)
        classes = [c for c in (UPPER, LOWER, DIGITS) if set(c) & set(alphabet)]
        if all(set(value) & set(c) for c in classes):
            return value


def password(n: int = 16, symbols: str = "!*~^+") -> str:
    """A credential: a letter, then letters, digits and a symbol, shuffled (URL-safe)."""
    chars = list(mixed(ALNUM, n - 2) + RNG.choice(symbols))
    RNG.shuffle(chars)
    return RNG.choice(ALPHA) + "".join(chars)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def rand_bytes(n: int) -> bytes:
    return bytes(RNG.randrange(256) for _ in range(n))


def wrap76(text: str) -> str:
    """Base64 as the `base64` command prints it: 76 columns a line."""
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n"


def pem(label: str, lines: int = 6) -> str:
    body = "\n".join(b64(rand_bytes(48)) for _ in range(lines))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def jwt(alg: str = "HS256", sig_len: int = 43) -> str:
    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    claims = {"sub": rand(DIGITS, 10), "iat": 1700000000 + RNG.randrange(10**6), "jti": rand(HEX, 16)}
    return part({"alg": alg, "typ": "JWT"}) + "." + part(claims) + "." + rand(URLSAFE, sig_len)


def ssh_public(key_type: str, *fields: bytes, comment: str = "deploy@ci") -> str:
    blob = b"".join(len(f).to_bytes(4, "big") + f for f in (key_type.encode(), *fields))
    return f"{key_type} {b64(blob)} {comment}".strip()


def uuid4() -> str:
    return f"{rand(HEX, 8)}-{rand(HEX, 4)}-4{rand(HEX, 3)}-a{rand(HEX, 3)}-{rand(HEX, 12)}"


def wg_key() -> str:
    return b64(rand_bytes(32))


# --- the literal corpus ---------------------------------------------------------------------------------


@dataclass
class Case:
    """A literal secret shape. `doc` is a string (placed in several positions of a document) or a
    structure with the secret at `at` (a JSON Pointer inside it). `secrets` are the literal parts that
    must never appear in a finding or a refusal message."""

    id: str
    doc: Any
    kind: str | None
    secrets: tuple[str, ...]
    at: str = ""
    positions: tuple[str, ...] = ("top", "nested", "list", "yaml", "text")
    name: str | None = None  # for named shapes: the member name the value sits under
    extra: dict[str, Any] = field(default_factory=dict)


CASES: list[Case] = []


def token(id: str, value: str, kind: str | None, *, secrets: tuple[str, ...] | None = None) -> None:
    """A self-identifying string: found whatever member it sits under, in text too."""
    CASES.append(Case(id, value, kind, secrets or (value,)))


# AWS access key ids (the secret key has no shape of its own: see the named and entropy cases).
for prefix in ("AKIA", "ASIA", "ABIA", "ACCA"):
    token(f"aws-{prefix.lower()}", prefix + rand(UPPER + DIGITS, 16), "aws-access-key")
# GitHub: classic, OAuth, user-to-server, server-to-server (app), refresh, fine-grained.
for prefix in ("ghp", "gho", "ghu", "ghs", "ghr"):
    token(f"github-{prefix}", f"{prefix}_" + mixed(ALNUM, 36), "github-token")
token("github-fine-grained", "github_pat_" + mixed(ALNUM, 22) + "_" + mixed(ALNUM, 59), "github-token")
# GitLab.
for prefix, n in (("glpat-", 20), ("gldt-", 20), ("glrt-", 20), ("glft-", 20), ("glsoat-", 20), ("glptt-", 40)):
    token(f"gitlab-{prefix[:-1]}", prefix + mixed(ALNUM, n), "gitlab-token")
token("gitlab-runner-registration", "GR1348941" + mixed(ALNUM, 20), "gitlab-token")
token("gitlab-cicd-job", "glcbt-" + mixed(ALNUM, 20), "gitlab-token")
# Slack.
token("slack-bot", "xoxb-" + rand(DIGITS, 12) + "-" + rand(DIGITS, 13) + "-" + mixed(LOWER + DIGITS, 24), "slack-token")
token(
    "slack-user",
    "xoxp-" + "-".join(rand(DIGITS, 12) for _ in range(3)) + "-" + rand(HEX, 32),
    "slack-token",
)
token("slack-legacy-workspace", "xoxa-2-" + rand(DIGITS, 12) + "-" + mixed(LOWER + DIGITS, 30), "slack-token")
token("slack-refresh", "xoxr-" + rand(DIGITS, 12) + "-" + mixed(LOWER + DIGITS, 40), "slack-token")
token(
    "slack-app-level",
    "xapp-1-A" + rand(UPPER + DIGITS, 10) + "-" + rand(DIGITS, 13) + "-" + rand(HEX, 64),
    "slack-token",
)
token(
    "slack-webhook",
    "https://hooks.slack.com/services/T"
    + rand(UPPER + DIGITS, 8)
    + "/B"
    + rand(UPPER + DIGITS, 10)
    + "/"
    + mixed(ALNUM, 24),
    "slack-token",
)
# Stripe secret and restricted keys (the publishable `pk_` ones are public: see the look-alikes).
for prefix in ("sk_live_", "sk_test_", "rk_live_", "rk_test_"):
    token(f"stripe-{prefix[:-1]}", prefix + mixed(ALNUM, 24), "stripe-key")
token("stripe-long-secret", "sk_live_" + mixed(ALNUM, 99), "stripe-key")
# Twilio, SendGrid, Mailgun, Mailchimp.
token("twilio-api-key-sid", "SK" + rand(HEX, 32), "twilio-key")
token("sendgrid", "SG." + mixed(URLSAFE, 22) + "." + mixed(URLSAFE, 43), "sendgrid-key")
token("mailgun", "key-" + rand(HEX, 32), "mailgun-key")
token("mailchimp", rand(HEX, 32) + "-us" + str(RNG.randrange(1, 21)), "mailchimp-key")
# Package registries.
token("npm-token", "npm_" + mixed(ALNUM, 36), "npm-token")
_npm = "npm_" + mixed(ALNUM, 36)
token("npmrc-auth-token", "//registry.npmjs.org/:_authToken=" + _npm, "npm-token", secrets=(_npm,))
token("pypi-token", "pypi-AgEIcHlwaS5vcmc" + mixed(URLSAFE, 120), "pypi-token")
token("testpypi-token", "pypi-AgENdGVzdC5weXBpLm9yZw" + mixed(URLSAFE, 120), "pypi-token")
token("dockerhub-pat", "dckr_pat_" + mixed(URLSAFE, 27), "dockerhub-token")
token("dockerhub-org-token", "dckr_oat_" + mixed(URLSAFE, 32), "dockerhub-token")
# Shopify, Databricks, Hugging Face, New Relic.
for prefix in ("shpat_", "shpss_", "shpca_", "shppa_"):
    token(f"shopify-{prefix[:-1]}", prefix + rand(HEX, 32), "shopify-token")
token("databricks", "dapi" + rand(HEX, 32), "databricks-token")
token("databricks-azure", "dapi" + rand(HEX, 32) + "-2", "databricks-token")
token("huggingface-user", "hf_" + mixed(ALPHA, 34), "huggingface-token")
token("huggingface-org", "api_org_" + mixed(ALPHA, 34), "huggingface-token")
token("newrelic-user-key", "NRAK-" + mixed(UPPER + DIGITS, 27), "newrelic-key")
token("newrelic-insert-key", "NRII-" + mixed(URLSAFE, 32), "newrelic-key")
# AI providers.
token("openai-project", "sk-proj-" + mixed(URLSAFE, 156), "openai-key")
token("openai-service-account", "sk-svcacct-" + mixed(URLSAFE, 120), "openai-key")
token("openai-legacy", "sk-" + mixed(ALNUM, 20) + "T3BlbkFJ" + mixed(ALNUM, 20), "openai-key")
token("anthropic-api", "sk-ant-api03-" + mixed(URLSAFE, 93) + "AA", "anthropic-key")
token("anthropic-admin", "sk-ant-admin01-" + mixed(URLSAFE, 93) + "AA", "anthropic-key")
# Google.
token("google-api-key", "AIza" + mixed(URLSAFE, 35), "google-api-key")
token("google-oauth-client-secret", "GOCSPX-" + mixed(URLSAFE, 28), "google-oauth-secret")
token("google-oauth-access-token", "ya29." + mixed(URLSAFE, 150), "google-oauth-token")
# Azure.
_azure_key = mixed(B64, 86) + "=="
token(
    "azure-storage-connection-string",
    f"DefaultEndpointsProtocol=https;AccountName=acct{rand(DIGITS, 4)};AccountKey={_azure_key};EndpointSuffix=core.windows.net",
    "azure-storage-key",
    secrets=(_azure_key,),
)
_sb_key = mixed(B64, 43) + "="
token(
    "azure-service-bus-connection-string",
    "Endpoint=sb://orders.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey="
    + _sb_key,
    "secret-assignment",
    secrets=(_sb_key,),
)
_sas = mixed(ALNUM, 40) + "%2B" + mixed(ALNUM, 3) + "%3D"
token(
    "azure-sas-url",
    "https://acct.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&spr=https&sig="
    + _sas,
    "url-credentials",
    secrets=(_sas,),
)
_amz_sig = rand(HEX, 64)
token(
    "aws-presigned-url",
    "https://bucket.s3.amazonaws.com/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z"
    "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=" + _amz_sig,
    "url-credentials",
    secrets=(_amz_sig,),
)
# JWTs, Vault, age, DigitalOcean, Telegram, Discord, Square, Artifactory.
token("jwt-hs256", jwt("HS256"), "jwt")
token("jwt-rs256", jwt("RS256", 342), "jwt")
token("vault-service-token", "hvs." + mixed(URLSAFE, 90), "vault-token")
token("vault-batch-token", "hvb." + mixed(URLSAFE, 120), "vault-token")
token("age-secret-key", "AGE-SECRET-KEY-1" + rand(BECH32_UPPER, 58), "age-secret-key")
token("digitalocean-pat", "dop_v1_" + rand(HEX, 64), "digitalocean-token")
token("telegram-bot", rand(DIGITS, 10) + ":AA" + mixed(URLSAFE, 33), "telegram-token")
token("discord-bot", "M" + mixed(URLSAFE, 23) + "." + mixed(URLSAFE, 6) + "." + mixed(URLSAFE, 27), "discord-token")
token("square-oauth-secret", "sq0csp-" + mixed(URLSAFE, 43), "square-oauth-secret")
token("artifactory-api-key", "AKC" + mixed(ALNUM, 70), "artifactory-token")
token("cublab-bearer-token", "cublab_" + mixed(URLSAFE, 43), "cublab-token")  # `cublab tokens create`
# PEM private keys.
for label in (
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "DSA PRIVATE KEY",
    "PGP PRIVATE KEY BLOCK",
):
    _pem = pem(label)
    token("pem-" + label.lower().replace(" ", "-"), _pem, "private-key", secrets=tuple(_pem.splitlines()[1:-1]))
# Authorization headers.
_basic_pw = password()
_basic = b64("deploy:" + _basic_pw)
token("authorization-basic", "Authorization: Basic " + _basic, "authorization-header", secrets=(_basic, _basic_pw))
_bearer = mixed(ALNUM, 40)
token("authorization-bearer", "Authorization: Bearer " + _bearer, "authorization-header", secrets=(_bearer,))

# URL credentials, by scheme.
for scheme, rest in (
    ("postgres", "db.internal:5432/app"),
    ("postgresql", "db.internal:5432/app?sslmode=require"),
    ("mysql", "10.0.0.5:3306/app"),
    ("redis", "cache:6379/0"),
    ("rediss", "cache.example.com:6380"),
    ("amqp", "rabbit:5672/vhost"),
    ("amqps", "broker.example.com/"),
    ("mongodb", "mongo-0.mongo:27017/app?replicaSet=rs0"),
    ("mongodb+srv", "cluster0.ab1cd.mongodb.net/app?retryWrites=true"),
    ("https", "git.example.com/org/repo.git"),
    ("ftp", "files.example.com/upload"),
    ("smtp", "smtp.example.com:587"),
    ("ldap", "ldap.example.com:389/dc=example,dc=com"),
):
    _pw = password()
    token(f"url-{scheme}", f"{scheme}://svc_{rand(LOWER, 4)}:{_pw}@{rest}", "url-credentials", secrets=(_pw,))
_pw = password()
token("url-redis-password-only", f"redis://:{_pw}@cache:6379", "url-credentials", secrets=(_pw,))
# JDBC.
_pw = password()
token("jdbc-mysql-query", f"jdbc:mysql://db:3306/app?user=app&password={_pw}", "url-credentials", secrets=(_pw,))
_pw = password()
token(
    "jdbc-postgresql-query",
    f"jdbc:postgresql://db:5432/app?password={_pw}&ssl=true",
    "url-credentials",
    secrets=(_pw,),
)
_pw = password()
token(
    "jdbc-sqlserver",
    f"jdbc:sqlserver://db:1433;databaseName=app;user=sa;password={_pw};encrypt=true",
    "secret-assignment",
    secrets=(_pw,),
)
_pw = password()
token("jdbc-oracle-thin", f"jdbc:oracle:thin:scott/{_pw}@db:1521:ORCL", "url-credentials", secrets=(_pw,))
_tok = mixed(ALNUM, 32)
token(
    "url-access-token-query",
    f"https://api.example.com/v1/items?access_token={_tok}",
    "url-credentials",
    secrets=(_tok,),
)

# Templates and reference prefixes around a token: not references.
_gh = "ghp_" + mixed(ALNUM, 36)
token("template-wrapping-token", '{{ "' + _gh + '" }}', "github-token", secrets=(_gh,))
_sk = "sk_live_" + mixed(ALNUM, 24)
token("template-quote-pipe", "{{ '" + _sk + "' | quote }}", "stripe-key", secrets=(_sk,))
_ak = "AKIA" + rand(UPPER + DIGITS, 16)
token("template-trim-markers", '{{- "' + _ak + '" -}}', "aws-access-key", secrets=(_ak,))
_xo = "xoxb-" + rand(DIGITS, 12) + "-" + rand(DIGITS, 13) + "-" + mixed(LOWER + DIGITS, 24)
token("erb-wrapping-token", '<%= "' + _xo + '" %>', "slack-token", secrets=(_xo,))
_gh = "ghp_" + mixed(ALNUM, 36)
token("vault-prefix-token", "vault://" + _gh, "github-token", secrets=(_gh,))
_sk = "sk_live_" + mixed(ALNUM, 24)
token("op-prefix-token", "op://Private/" + _sk, "stripe-key", secrets=(_sk,))
_gl = "glpat-" + mixed(ALNUM, 20)
token("env-prefix-token", "env://" + _gl, "gitlab-token", secrets=(_gl,))
_gh = "ghp_" + mixed(ALNUM, 36)
token("var-ref-token-name", "${" + _gh + "}", "github-token", secrets=(_gh,))
_gh = "ghp_" + mixed(ALNUM, 36)
token("bare-var-token-name", "$" + _gh, "github-token", secrets=(_gh,))
_aws_secret = mixed(B64, 40)
token("awssm-prefix-aws-secret", "awssm://" + _aws_secret, "high-entropy", secrets=(_aws_secret,))
_hf = "hf_" + mixed(ALPHA, 34)
token(
    "arn-with-token",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + _hf,
    "huggingface-token",
    secrets=(_hf,),
)

# Random base64 under a neutral name, and a random AWS secret key: entropy.
_blob = b64(rand_bytes(40))
token("random-base64-blob", _blob, "high-entropy")
_aws_secret = mixed(B64, 40)
token("aws-secret-key-unnamed", _aws_secret, "high-entropy")


def named(id: str, name: str, value: Any, kind: str | None = "secret-named-key", text: bool = True) -> None:
    """A value that is a secret because of the member it sits under."""
    positions = ("top", "nested", "list", "yaml", "text") if text else ("top", "nested", "list")
    CASES.append(Case(id, value, kind, (str(value),), positions=positions, name=name))


for name in (
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "db_password",
    "DB_PASS",
    "dbPass",
    "MYSQL_ROOT_PASSWORD",
    "redis-password",
    "admin_pw",
    "clientSecret",
    "client_secret",
    "api_key",
    "apiKey",
    "API-KEY",
    "x-api-key",
    "token",
    "access_token",
    "refresh_token",
    "authToken",
    "bearerToken",
    "secret",
    "webhookSecret",
    "jwtSecret",
    "cookie_secret",
    "credentials",
    "hmacKey",
    "sessionKey",
    "signingKey",
    "masterKey",
):
    named(f"named-{name}", name, password(RNG.randrange(12, 24)))
named("named-aws-secret-access-key", "aws_secret_access_key", mixed(B64, 40))
named("named-AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", mixed(B64, 40))
named("named-datadog-api-key", "DD_API_KEY", mixed(HEX, 32))
named("named-datadog-app-key", "DD_APP_KEY", mixed(HEX, 40))
named("named-datadog-apiKey", "datadogApiKey", mixed(HEX, 32))
named("named-datadog-applicationKey", "applicationKey", mixed(HEX, 40))
named("named-twilio-auth-token", "TWILIO_AUTH_TOKEN", mixed(HEX, 32))
named("named-encryption-key", "encryptionKey", b64(rand_bytes(32)))
named("named-laravel-app-key", "APP_KEY", "base64:" + b64(rand_bytes(32)))
named("named-wireguard-preshared", "PresharedKey", wg_key())
named("named-private-key-hex", "privateKey", rand(HEX, 64))
named("named-numeric-password", "password", RNG.randrange(10**7, 10**9), text=False)
named("named-short-password", "password", "pw" + rand(DIGITS, 2), text=False)
named("named-plain-word-password", "password", "letmein", text=False)
_pw = password()
named(
    "named-template-literal-default",
    "password",
    '{{ default "' + _pw + '" .Values.db.password }}',
    text=False,
)
CASES[-1].secrets = (_pw,)
_pw = password()
named("named-var-ref-literal-default", "password", "${DB_PASSWORD:-" + _pw + "}", text=False)
CASES[-1].secrets = (_pw,)


def structure(id: str, doc: Any, at: str, kind: str | None, secrets: tuple[str, ...], text: str | None = None) -> None:
    """A secret that needs its surroundings (an env entry, an argument list, a nested member)."""
    positions = ("top", "nested", "list") + (("yaml", "text") if text else ())
    CASES.append(Case(id, doc, kind, secrets, at=at, positions=positions, extra={"text": text}))


# k8s env entries.
for env_name, value in (
    ("DB_PASSWORD", password()),
    ("API_TOKEN", mixed(ALNUM, 32)),
    ("STRIPE_SECRET_KEY", "sk_live_" + mixed(ALNUM, 24)),
    ("REDIS_PASS", password()),
    ("DD_API_KEY", mixed(HEX, 32)),
    ("GITHUB_TOKEN", "ghp_" + mixed(ALNUM, 36)),
    ("AWS_SECRET_ACCESS_KEY", mixed(B64, 40)),
    ("SMTP_PASSWD", password()),
):
    structure(
        f"k8s-env-{env_name}",
        {"env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": env_name, "value": value}]},
        "/env/1/value",
        None,
        (value,),
        text=f"env:\n  - name: LOG_LEVEL\n    value: info\n  - name: {env_name}\n    value: {value}\n",
    )
# Named secrets one level down.
_v = password()
structure("nested-password-key", {"password": {"key": _v}}, "/password/key", "secret-named-key", (_v,))
_v = password()
structure("nested-password-value", {"password": {"value": _v}}, "/password/value", "secret-named-key", (_v,))
_v = password()
structure(
    "nested-client-secret-value-plaintext",
    {"clientSecret": {"value": {"plaintext": _v}}},
    "/clientSecret/value/plaintext",
    "secret-named-key",
    (_v,),
)
_v, _w = password(), password()
structure(
    "nested-rotation-current-previous",
    {"db": {"password": {"current": _v, "previous": _w}}},
    "/db/password/current",
    "secret-named-key",
    (_v, _w),
)
_n = RNG.randrange(10**8, 10**9)
structure("nested-numeric-api-key", {"apiKey": {"value": _n}}, "/apiKey/value", "secret-named-key", (str(_n),))
_v = mixed(ALNUM, 24)
structure("nested-token-data-list", {"token": {"data": ["v1", _v]}}, "/token/data/1", "secret-named-key", (_v,))
_v = "ghp_" + mixed(ALNUM, 36)
structure("bare-ref-body-with-token", {"name": "db-creds", "key": _v}, "/key", "github-token", (_v,))
_v = mixed(B64, 40)
structure(
    "secret-key-ref-with-random-key",
    {"secretKeyRef": {"name": "db", "key": _v}},
    "/secretKeyRef/key",
    "high-entropy",
    (_v,),
)


def argv(id: str, args: list[str], index: int, secret: str, kind: str | None = "secret-argument") -> None:
    """A command line as an argument list (and as a script line, and in prose)."""
    CASES.append(
        Case(
            id,
            args,
            kind,
            (secret,),
            at=f"/{index}",
            positions=("top", "nested", "list", "yaml", "text"),
            extra={"text": " ".join(args)},
        )
    )


_pw = password()
argv("argv-mysql-p-attached", ["mysql", "-uroot", "-p" + _pw, "appdb"], 2, _pw)
_pw = password()
argv("argv-mysqldump-p-attached", ["mysqldump", "-u", "backup", "-p" + _pw, "--all-databases"], 3, _pw)
_pw = password()
argv("argv-mariadb-path", ["/usr/bin/mariadb", "-h", "db", "-p" + _pw], 3, _pw)
_pw = password()
argv("argv-password-next-item", ["app", "--password", _pw, "--verbose"], 2, _pw)
_pw = password()
argv("argv-password-equals", ["app", "--password=" + _pw], 1, _pw)
_gh = "ghp_" + mixed(ALNUM, 36)
argv("argv-token-next-item", ["gh", "auth", "login", "--token", _gh], 4, _gh)
_k = mixed(ALNUM, 32)
argv("argv-api-key-next-item", ["vendor-cli", "--api-key", _k, "sync"], 2, _k)
_k = mixed(URLSAFE, 40)
argv("argv-client-secret-equals", ["oauth2-proxy", "--client-secret=" + _k], 1, _k)
_pw = password()
argv("argv-sshpass", ["sshpass", "-p", _pw, "ssh", "deploy@host"], 2, _pw)
_pw = password()
argv("argv-db-password", ["migrate", "--db-password", _pw], 2, _pw)


def wrapped(
    id: str, content: str, kind: str = "base64:secret-named-key", *, secrets: tuple[str, ...] = (), **kw: Any
) -> None:
    """Base64 of a config or key: refused for what it holds."""
    encoder = kw.get("encoder", b64)
    value = encoder(content)
    positions = kw.get("positions", ("top", "nested", "list", "yaml", "text"))
    CASES.append(Case(id, value, kind, (value, *secrets), positions=positions))


_pw = password()
wrapped("base64-json-config", json.dumps({"db": {"host": "db", "port": 5432, "password": _pw}}), secrets=(_pw,))
_pw = password()
wrapped("base64-yaml-config", f"db:\n  host: db\n  port: 5432\n  password: {_pw}\nlogLevel: info\n", secrets=(_pw,))
_pw = password()
wrapped("base64-dotenv", f"LOG_LEVEL=info\nDB_PASSWORD={_pw}\nPORT=8080\n", secrets=(_pw,))
_pw = password()
wrapped(
    "base64-properties",
    f"spring.datasource.url=jdbc:postgresql://db:5432/app\nspring.datasource.password={_pw}\n",
    secrets=(_pw,),
)
_pw = password()
wrapped("base64-ini", f"[database]\nhost = db\npassword = {_pw}\n", secrets=(_pw,))
wrapped("base64-pem-private-key", pem("RSA PRIVATE KEY"), "base64:private-key")
_gh = "ghp_" + mixed(ALNUM, 36)
wrapped("base64-json-with-token", json.dumps({"ci": {"github": _gh}}), "base64:github-token", secrets=(_gh,))
wrapped(
    "base64-service-account-json",
    json.dumps(
        {
            "type": "service_account",
            "project_id": "acme-prod",
            "private_key_id": rand(HEX, 40),
            "private_key": pem("PRIVATE KEY"),
            "client_email": "deployer@acme-prod.iam.gserviceaccount.com",
        }
    ),
    "base64:private-key",
)
_pw = password()
wrapped(
    "base64-of-base64-config",
    f"db:\n  password: {_pw}\n",
    secrets=(_pw,),
    encoder=lambda s: b64(b64(s)),
)
_pw = password()
wrapped(
    "base64-wrapped-at-76-columns",
    "# app config\n" + "\n".join(f"option{i}: value-{i}" for i in range(12)) + f"\ndb:\n  password: {_pw}\n",
    secrets=(_pw,),
    encoder=lambda s: wrap76(b64(s)),
    positions=("top", "nested", "list"),
)
_pw = password()
wrapped(
    "base64-urlsafe-json",
    json.dumps({"auth": {"client_secret": _pw, "client_id": "web"}}) + "\n",
    secrets=(_pw,),
    encoder=lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
)
_pw = password()
wrapped(
    "base64-dockerconfigjson",
    json.dumps({"auths": {"registry.example.com": {"auth": b64("deploy:" + _pw)}}}),
    "base64:basic-auth",
    secrets=(_pw,),
)
_npm = "npm_" + mixed(ALNUM, 36)
wrapped(
    "base64-npmrc",
    f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={_npm}\n",
    "base64:npm-token",
    secrets=(_npm,),
)
_tok = mixed(URLSAFE, 48)
wrapped(
    "base64-kubeconfig-token",
    f"apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: {_tok}\n",
    secrets=(_tok,),
)
# A docker config.json as JSON (the auth is base64 of user:password).
_pw = password()
structure(
    "dockerconfig-auth",
    {"auths": {"registry.example.com": {"auth": b64("deploy:" + _pw)}}},
    "/auths/registry.example.com/auth",
    "base64:basic-auth",
    (_pw, b64("deploy:" + _pw)),
)
_pw = password()
structure(
    "gcp-service-account-json",
    {"type": "service_account", "private_key_id": rand(HEX, 40), "private_key": pem("PRIVATE KEY")},
    "/private_key",
    "private-key",
    (),
)
CASES[-1].secrets = tuple(CASES[-1].doc["private_key"].splitlines()[1:-1])


def prose(id: str, text: str, secret: str, kind: str | None = None) -> None:
    """Free text (a rationale, an explanation) that gives a secret away."""
    CASES.append(Case(id, text, kind, (secret,), positions=("top", "nested", "list", "text")))


_pw = password()
prose("prose-db-password-is", f"For the benchmark, the db password is {_pw} on staging.", _pw, "secret-in-text")
_k = mixed(ALNUM, 32)
prose("prose-api-key-was", f"The API key was {_k}, rotated since.", _k, "secret-in-text")
_pw = password()
prose("prose-root-password-set-to", f"Note: root password was set to '{_pw}' for the migration.", _pw, "secret-in-text")
_k = mixed(URLSAFE, 30)
prose("prose-client-secret-is-now", f"FYI the client secret is now {_k}", _k, "secret-in-text")
_pw = password()
prose("prose-assignment", f"I exported DB_PASSWORD={_pw} before the run.", _pw, "secret-assignment")
_pw = password()
prose("prose-colon-nested", f"config: password={_pw}", _pw, "secret-assignment")
_pw = password()
prose("prose-netrc", f"machine api.example.com login deploy password {_pw}", _pw, "secret-assignment")
_k = wg_key()
prose(
    "prose-wireguard-private-key", f"[Interface]\nPrivateKey = {_k}\nAddress = 10.8.0.2/24\n", _k, "secret-assignment"
)
_pw = password()
prose("prose-mysql-command", f"Reproduced with `mysql -h db -uroot -p{_pw} app`.", _pw, "secret-argument")
_pw = password()
prose("prose-long-flag", f"ran ./migrate --db-password {_pw} --dry-run", _pw, "secret-argument")


# --- placing a case in a document -----------------------------------------------------------------------

NEUTRAL_KEY = "endpoint"


def placements(case: Case) -> list[tuple[str, str, Any, str]]:
    """(position, how, document or text, expected JSON Pointer) for each position of the case."""
    out: list[tuple[str, str, Any, str]] = []
    structural = not isinstance(case.doc, str) or case.at or case.extra.get("text") is not None
    if case.name is not None:  # a named value
        n, v = case.name, case.doc
        esc = n.replace("~", "~0").replace("/", "~1")
        out.append(("top", "doc", {n: v}, f"/{esc}"))
        out.append(("nested", "doc", {"spec": {"backend": {"auth": {n: v}}}}, f"/spec/backend/auth/{esc}"))
        out.append(("list", "doc", {"items": [{"kind": "db"}, {n: v}]}, f"/items/1/{esc}"))
        out.append(("yaml", "doc", {"app.yaml": f"backend:\n  host: db\n  {n}: {v}\n"}, "/app.yaml"))
        out.append(("text", "text", f"For the record, the {n} is {v} on staging.", "/rationale"))
    elif structural:
        doc, at = case.doc, case.at
        out.append(("top", "doc", {"job": doc}, "/job" + at))
        out.append(
            (
                "nested",
                "doc",
                {"spec": {"template": {"spec": {"containers": [doc]}}}},
                "/spec/template/spec/containers/0" + at,
            )
        )
        out.append(("list", "doc", {"items": ["first", doc]}, "/items/1" + at))
        text = case.extra.get("text")
        if text is not None:
            out.append(("yaml", "doc", {"script.sh": f"#!/bin/sh\nset -e\n{text}\n"}, "/script.sh"))
            out.append(("text", "text", f"Reproduced with:\n{text}\n", "/rationale"))
    else:
        v = case.doc
        out.append(("top", "doc", {NEUTRAL_KEY: v}, f"/{NEUTRAL_KEY}"))
        out.append(("nested", "doc", {"spec": {"vendor": {"config": v}}}, "/spec/vendor/config"))
        out.append(("list", "doc", {"args": ["--verbose", v]}, "/args/1"))
        out.append(("yaml", "doc", {"app.yaml": f"vendor:\n  endpoint: {v}\n  timeout: 30\n"}, "/app.yaml"))
        out.append(("text", "text", f"For the benchmark I used {v} against staging.", "/rationale"))
    return [p for p in out if p[0] in case.positions]


LITERAL_PARAMS = [
    pytest.param(case, how, doc, path, id=f"{case.id}@{position}")
    for case in CASES
    for position, how, doc, path in placements(case)
]


def _findings(how: str, doc: Any) -> list[Finding]:
    return find_secrets(doc) if how == "doc" else find_secrets_in_text(doc, "/rationale")


@pytest.mark.parametrize(("case", "how", "doc", "path"), LITERAL_PARAMS)
def test_literal_secret_is_refused_at_its_path_and_never_echoed(case: Case, how: str, doc: Any, path: str) -> None:
    findings = _findings(how, doc)
    assert path in {f.path for f in findings}, (case.id, findings)
    if case.kind is not None and how == "doc" and case.name is None:
        assert case.kind in {f.kind for f in findings if f.path == path}, (case.id, findings)
    message = secret_gate_message(findings, "variant config")
    shown = message + repr(findings) + str(findings) + "".join(map(str, findings))
    for secret in case.secrets:
        assert len(secret) >= 4
        assert secret not in shown, case.id


def test_the_kind_is_named_in_free_text_too() -> None:
    """In a sentence, a self-identifying shape is still reported by its kind, not only by its path."""
    for case in CASES:
        if case.name is None and isinstance(case.doc, str) and case.kind and "text" in case.positions:
            kinds = {f.kind for f in find_secrets_in_text(f"see {case.doc} here", "/t")}
            assert case.kind in kinds, (case.id, kinds)


# --- legitimate look-alikes -----------------------------------------------------------------------------

LOOKALIKES: list[tuple[str, Any]] = []


def ok(id: str, doc: Any) -> None:
    LOOKALIKES.append((id, doc))


# SSH public keys, in several shapes.
_ed = ssh_public("ssh-ed25519", rand_bytes(32))
ok("ssh-ed25519", {"sshPublicKey": _ed})
ok("ssh-ed25519-no-comment", {"key": ssh_public("ssh-ed25519", rand_bytes(32), comment="")})
ok("ssh-rsa-2048", {"authorized_keys": [ssh_public("ssh-rsa", b"\x01\x00\x01", b"\x00" + rand_bytes(256))]})
ok(
    "ssh-rsa-4096",
    {"users": [{"name": "ops", "key": ssh_public("ssh-rsa", b"\x01\x00\x01", b"\x00" + rand_bytes(512))}]},
)
ok("ecdsa-p256", {"hostKey": ssh_public("ecdsa-sha2-nistp256", b"nistp256", b"\x04" + rand_bytes(64))})
ok("ecdsa-p384", {"hostKey": ssh_public("ecdsa-sha2-nistp384", b"nistp384", b"\x04" + rand_bytes(96))})
ok("ecdsa-p521", {"hostKey": ssh_public("ecdsa-sha2-nistp521", b"nistp521", b"\x04" + rand_bytes(132))})
ok(
    "sk-ssh-ed25519",
    {"key": ssh_public("sk-ssh-ed25519@openssh.com", rand_bytes(32), b"ssh:")},
)
ok(
    "authorized-keys-file",
    {
        "authorized_keys": 'no-port-forwarding,command="/bin/backup" '
        + _ed
        + "\n"
        + _ed.replace("deploy@ci", "ops@laptop")
    },
)
ok("known-hosts-line", {"known_hosts": "github.com " + ssh_public("ssh-ed25519", rand_bytes(32), comment="")})
# WireGuard and age public keys.
ok("wireguard-publicKey", {"peers": [{"publicKey": wg_key(), "allowedIPs": ["10.8.0.2/32"]}]})
ok("wireguard-PublicKey", {"Peer": {"PublicKey": wg_key(), "Endpoint": "vpn.example.com:51820"}})
ok("wireguard-public_key", {"public_key": wg_key()})
ok("wireguard-server-public-key", {"serverPublicKey": wg_key()})
ok("wireguard-env", {"env": [{"name": "WG_PUBLIC_KEY", "value": wg_key()}]})
ok("wireguard-config-text", {"wg0.conf": f"[Peer]\nPublicKey = {wg_key()}\nAllowedIPs = 10.8.0.0/24\n"})
ok("age-recipient", {"recipients": ["age1" + rand("qpzry9x8gf2tvdw0s3jn54khce6mua7l", 58)]})
# PEM public material.
ok("pem-certificate", {"tls.crt": pem("CERTIFICATE", 12)})
ok("pem-chain", {"ca.pem": pem("CERTIFICATE", 8) + pem("CERTIFICATE", 8)})
ok("pem-public-key", {"jwks": {"publicKey": pem("PUBLIC KEY", 4)}})
ok("pem-rsa-public-key", {"verifier": pem("RSA PUBLIC KEY", 4)})
ok("pem-csr", {"csr": pem("CERTIFICATE REQUEST", 6)})
ok("pgp-public-block", {"signingKey.asc": pem("PGP PUBLIC KEY BLOCK", 6)})
# Hashes and identifiers.
ok("sri-sha256", {"integrity": "sha256-" + b64(rand_bytes(32))})
ok("sri-sha384", {"integrity": "sha384-" + b64(rand_bytes(48))})
ok("sri-sha512", {"integrity": "sha512-" + b64(rand_bytes(64))})
ok(
    "sri-in-html",
    {
        "head": '<script src="https://cdn.example.com/app.js" integrity="sha384-'
        + b64(rand_bytes(48))
        + '" crossorigin="anonymous"></script>'
    },
)
ok("package-lock-integrity", {"packages": {"node_modules/left-pad": {"integrity": "sha512-" + b64(rand_bytes(64))}}})
ok("image-digest", {"image": "ghcr.io/acme/web@sha256:" + rand(HEX, 64)})
ok("sha512-hex", {"checksum": rand(HEX, 128)})
ok("git-sha", {"revision": rand(HEX, 40)})
ok("git-short-sha", {"tag": "v1.4.2-" + rand(HEX, 7)})
ok("uuid", {"requestId": uuid4()})
ok("ulid", {"eventId": "01H" + rand("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 23)})
# ARNs.
ok("arn-role", {"role": "arn:aws:iam::123456789012:role/service-role/OrdersLambdaRole-" + rand(ALNUM, 12)})
ok("arn-secret", {"dbSecret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/orders/db-" + rand(ALNUM, 6)})
ok("arn-ssm-parameter", {"apiKey": "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/orders/api-key"})
ok(
    "arn-kms",
    {
        "kmsKey": "arn:aws:kms:eu-west-1:123456789012:key/"
        + rand(HEX, 8)
        + "-"
        + rand(HEX, 4)
        + "-4"
        + rand(HEX, 3)
        + "-8"
        + rand(HEX, 3)
        + "-"
        + rand(HEX, 12)
    },
)
ok("arn-lambda", {"function": "arn:aws:lambda:us-east-1:123456789012:function:orders-prod-handler"})
# Every reference form.
ok("ref-secretKeyRef", {"password": {"secretKeyRef": {"name": "orders-db", "key": "password"}}})
ok("ref-secretRef", {"envFrom": [{"secretRef": {"name": "orders-env"}}]})
ok("ref-valueFrom", {"env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]})
ok("ref-bare-object", {"token": {"name": "gh-token", "key": "token", "namespace": "ci", "optional": False}})
ok("ref-vault", {"password": "vault://secret/data/orders/db#password"})
ok("ref-op", {"apiKey": "op://Platform/orders-api/credential"})
ok("ref-env-uri", {"token": "env://GITHUB_TOKEN"})
ok("ref-var", {"password": "${DB_PASSWORD}"})
ok("ref-var-empty-default", {"password": "${DB_PASSWORD:-}"})
ok("ref-var-plain-default", {"logLevel": "${LOG_LEVEL:-info}"})
ok("ref-bare-var", {"token": "$GITHUB_TOKEN"})
ok("ref-awssm", {"password": "awssm://orders/prod/db"})
ok("ref-ssm", {"password": "ssm:///prod/orders/db-password"})
ok("ref-gcpsm", {"apiKey": "gcpsm://projects/acme-prod/secrets/orders-api-key/versions/latest"})
ok("ref-azkv", {"clientSecret": "azkv://kv-prod.vault.azure.net/secrets/orders-client-secret"})
ok("ref-sops", {"password": "sops://secrets/prod.enc.yaml#/db/password"})
ok("ref-k8s-secret", {"token": "k8s-secret://ci/gh-token/token"})
ok("ref-helm-template", {"password": "{{ .Values.db.password }}"})
ok("ref-helm-required", {"password": '{{ required "db password is required" .Values.db.password }}'})
ok("ref-helm-default-placeholder", {"password": '{{ .Values.db.password | default "changeme" }}'})
ok("ref-jinja-lookup", {"password": "{{ lookup('env', 'DB_PASSWORD') }}"})
ok("ref-erb", {"password": "<%= ENV['DB_PASSWORD'] %>"})
ok("ref-in-argv", {"command": ["psql", "--password", "${DB_PASSWORD}"]})
ok("ref-in-url", {"url": "postgres://app:${DB_PASSWORD}@db:5432/app"})
# Base64 of ordinary material.
ok("base64-json-config", {"config.json": b64(json.dumps({"db": {"host": "db", "port": 5432}, "logLevel": "info"}))})
ok("base64-yaml-config", {"app.yaml": b64("server:\n  port: 8080\n  workers: 4\nfeatures:\n  - search\n  - export\n")})
ok("base64-dotenv-no-secrets", {"env": b64("LOG_LEVEL=info\nPORT=8080\nDB_PASSWORD=${DB_PASSWORD}\n")})
ok("base64-ca-bundle", {"caBundle": b64(pem("CERTIFICATE", 12))})
ok(
    "base64-ca-chain",
    {"webhooks": [{"clientConfig": {"caBundle": b64(pem("CERTIFICATE", 8) + pem("CERTIFICATE", 8))}}]},
)
ok("base64-ca-wrapped", {"ca.crt": wrap76(b64(pem("CERTIFICATE", 8)))})
ok(
    "base64-kubeconfig-certs-only",
    {
        "kubeconfig": b64(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://k8s.example.com\n"
            f"    certificate-authority-data: {b64(pem('CERTIFICATE', 8))}\n"
            "users:\n- name: ci\n  user:\n    exec:\n      command: aws\n"
        )
    },
)
ok(
    "base64-shell-script",
    {"userData": b64("#!/bin/bash\nset -euo pipefail\nyum install -y nginx\nsystemctl enable --now nginx\n")},
)
ok(
    "base64-properties-with-ref",
    {"app.properties": b64("spring.datasource.password=${DB_PASSWORD}\nserver.port=8080\n")},
)
# Publishable keys.
ok("stripe-publishable-live", {"stripe": {"publishableKey": "pk_live_" + mixed(ALNUM, 99)}})
ok("stripe-publishable-test", {"checkout.js": "Stripe('pk_test_" + mixed(ALNUM, 24) + "')"})
# Placeholders, empties, booleans.
ok("placeholders", {"password": "<redacted>", "apiKey": "CHANGEME", "token": "***", "secret": "xxxxxxxx"})
ok(
    "placeholder-shapes",
    {"password": "REPLACE_ME", "token": "[token]", "clientSecret": "(redacted)", "pass": "your-password"},
)
ok("empty-and-null", {"password": "", "token": None, "apiKey": False})
# Names that describe a secret without holding one.
ok("password-policy", {"passwordPolicy": "strict", "passwordMinLength": 14, "passwordRotationDays": 90})
ok("token-knobs", {"tokenTTL": 3600, "tokenExpiry": "1h", "maxTokens": 4096, "tokenizer": "cl100k_base"})
ok("secret-names", {"secretName": "orders-db", "existingSecret": "orders-db", "secretStoreRef": {"name": "vault"}})
ok("pass-in-words", {"bypass": True, "compass": "north", "bypass-confighub": "true", "passThrough": "headers"})
ok("public-key-names", {"publicKeyPath": "/etc/keys/pub.pem", "keyId": "k-2024-01", "keyName": "deploy"})
# Identifiers and generated names.
ok(
    "kebab-snake",
    {
        "queue": "orders-prod-dead-letter",
        "table": "orders_prod_events_v2",
        "bucket": "acme-orders-artifacts-123456789012",
    },
)
ok(
    "cfn-generated",
    {"function": "orders-prod-EventBridgeRule-A1B2C3D4E5F6", "stack": "orders-prod-ApiGatewayStack-1XYZ2ABC3DEF"},
)
ok("k8s-generated", {"pod": "web-7d9f8b6c5d-x2k4p", "rs": "web-7d9f8b6c5d", "job": "backup-28391045"})
ok("gcp-path", {"fn": "projects/acme-prod-123/locations/us-central1/functions/HandleOrderEvents2"})
ok("long-camel-identifiers", {"handler": "com.acme.orders.OrderCreatedEventHandler::handleRequest"})
# URLs without credentials.
ok("url-no-credentials", {"api": "https://api.example.com/v1/orders?page=2&sort=asc", "db": "postgres://db:5432/app"})
ok("url-user-only", {"repo": "https://git@github.com/acme/orders.git", "ssh": "ssh://deploy@host:22/srv"})
ok("url-placeholder-password", {"db": "postgres://app:<password>@db:5432/app", "mq": "amqp://user:***@rabbit/"})
ok("url-query-names", {"link": "https://example.com/account?passwordReset=1&tokenType=bearer"})
ok("jdbc-without-password", {"url": "jdbc:mysql://db:3306/app?useSSL=true&user=app"})
# Argument lists that hold no secret.
ok("argv-mysql-prompt", {"command": ["mysql", "-u", "root", "-p", "appdb"]})
ok("argv-docker-port", {"command": ["docker", "run", "-p", "8080:80", "nginx"]})
ok("argv-ssh-port", {"command": ["ssh", "-p2222", "deploy@host"]})
ok("argv-password-file", {"command": ["psql", "--password-file", "/run/secrets/db", "--no-password", "app"]})
ok("argv-token-file", {"args": ["--token-file=/var/run/secrets/token", "--kubeconfig", "/etc/kube/config"]})
ok("argv-password-stdin", {"args": ["docker", "login", "--password-stdin", "--username", "ci"]})
# Ordinary config.
ok(
    "serverless-config",
    {
        "awsAccountId": "123456789012",
        "region": "us-east-1",
        "resourcePrefix": "orders-prod",
        "lambdaMemory": 512,
        "lambdaTimeout": 30,
        "environment": "production",
    },
)
ok("ttl-and-ratios", {"ttl": "2h", "ratio": 0.25, "replicas": 3, "enabled": True, "tags": ["a", "b"]})

# Free text that must pass.
PROSE_LOOKALIKES = [
    "The password policy is unchanged; token: rotated monthly by the platform team.",
    "Use ${DB_PASSWORD} from vault://secret/db#password, never a literal.",
    "The password is stored in vault://secret/data/orders/db#password.",
    "The API key is managed by External Secrets and was rotated on Monday.",
    "The token was revoked after the incident.",
    "Lambda memory 256 -> 512 cut p99 latency by 31% over 40 samples (image sha256:" + "ab" * 32 + ").",
    "Deploy key: " + _ed,
    "Pinned the CDN script with integrity sha384-" + b64(rand_bytes(48)) + " as recommended.",
    "Run `mysql -u root -p appdb` and type the password when prompted.",
    "Tokens per second is 4096 on the larger instance.",
    "Checked out " + rand(HEX, 40) + " and rebuilt; request " + uuid4(),
    "",
]


@pytest.mark.parametrize("doc", [d for _, d in LOOKALIKES], ids=[i for i, _ in LOOKALIKES])
def test_lookalike_passes(doc: Any) -> None:
    assert find_secrets(doc) == []


@pytest.mark.parametrize("text", PROSE_LOOKALIKES, ids=range(len(PROSE_LOOKALIKES)))
def test_prose_lookalike_passes(text: str) -> None:
    assert find_secrets_in_text(text, "/rationale") == []


def test_corpus_sizes() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 150
    assert len(LITERAL_PARAMS) >= 3 * 150
    assert len({i for i, _ in LOOKALIKES}) == len(LOOKALIKES)
    assert len(LOOKALIKES) + len(PROSE_LOOKALIKES) >= 80
    assert len(LOOKALIKES) >= 80


def test_corpus_is_reproducible() -> None:
    """The RNG is seeded: the same tokens every run, so a failure reproduces."""
    assert random.Random(0x5EC2E7).random() == random.Random(0x5EC2E7).random()


# --- base64: judged by what it holds ---------------------------------------------------------------------

# Drawn at import, like the corpus, so the values do not depend on which tests ran first.
CONFIG_PASSWORD = password()
RANDOM_BYTES = rand_bytes(48)
ONE_LINE_SECRET = mixed(ALNUM, 40)
DEEP_PASSWORD = password()


def test_base64_kinds_name_what_was_inside() -> None:
    findings = find_secrets({"config": b64(json.dumps({"db": {"password": CONFIG_PASSWORD}}))})
    assert findings == [Finding("/config", "base64:secret-named-key")]


def test_base64_of_random_bytes_is_still_judged_by_entropy() -> None:
    assert find_secrets({"blob": b64(RANDOM_BYTES)}) == [Finding("/blob", "high-entropy")]


def test_base64_of_one_line_of_text_is_not_exempt_from_entropy() -> None:
    """A base64-encoded password is text too, but not a document: it is not let through as one."""
    findings = find_secrets({"blob": b64(ONE_LINE_SECRET)})
    assert [(f.path, f.kind.removeprefix("base64:")) for f in findings] == [("/blob", "high-entropy")]


def test_third_level_of_base64_is_not_decoded_but_still_refused() -> None:
    doc = {"blob": b64(b64(b64("db:\n  password: " + DEEP_PASSWORD + "\n")))}
    assert [f.path for f in find_secrets(doc)] == ["/blob"]


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(lambda: b64(b64("a: b\n" * 40_000)), id="large-nested-base64"),
        pytest.param(lambda: "a:" * 100_000, id="assignment-chain"),
        pytest.param(lambda: "password is " * 20_000, id="prose-chain"),
        pytest.param(lambda: ("A" * 60 + "=") * 4_000, id="padding-runs"),
        pytest.param(lambda: "{{" + ' "x" |' * 20_000 + "}}", id="template"),
        pytest.param(lambda: "--password " * 20_000, id="flags"),
        pytest.param(lambda: b64(json.dumps([[[[[[["x"]]]]]]] * 2_000)), id="base64-json"),
        pytest.param(lambda: b64("[" * 50_000 + "]" * 50_000), id="base64-deep-json"),
        pytest.param(lambda: "a." * 100_000 + "://u:p@h", id="url-scheme"),
        pytest.param(lambda: "{{ 'x' |a" + " " * 100_000 + "!}}", id="template-filters"),
        pytest.param(lambda: b64("password:" + " " * 40_000 + "x\n"), id="base64-config-line"),
        pytest.param(lambda: "u" + "b" * 200_000, id="public-key-scrub"),
        pytest.param(lambda: "ssh-rsa AAAA" + "A" * 200_000 + "!", id="ssh-key"),
        pytest.param(lambda: "machine " * 30_000, id="netrc"),
    ],
)
def test_hostile_input_stays_fast(hostile: Callable[[], str]) -> None:
    text = hostile()
    start = time.perf_counter()
    find_secrets({"x": text})
    find_secrets_in_text(text)
    assert time.perf_counter() - start < 5.0


# --- properties ------------------------------------------------------------------------------------------

PROVIDERS: list[tuple[str, str, int, str]] = [
    ("ghp_", ALNUM, 36, "github-token"),
    ("github_pat_", ALNUM + "_", 82, "github-token"),
    ("glpat-", ALNUM, 20, "gitlab-token"),
    ("sk_live_", ALNUM, 24, "stripe-key"),
    ("rk_test_", ALNUM, 24, "stripe-key"),
    ("AKIA", UPPER + DIGITS, 16, "aws-access-key"),
    ("AIza", URLSAFE, 35, "google-api-key"),
    ("npm_", ALNUM, 36, "npm-token"),
    ("shpat_", HEX, 32, "shopify-token"),
    ("dapi", HEX, 32, "databricks-token"),
    ("hf_", ALPHA, 34, "huggingface-token"),
    ("NRAK-", UPPER + DIGITS, 27, "newrelic-key"),
    ("dckr_pat_", URLSAFE, 27, "dockerhub-token"),
    ("cublab_", URLSAFE, 43, "cublab-token"),
    ("key-", HEX, 32, "mailgun-key"),
    ("hvs.", URLSAFE, 90, "vault-token"),
    ("sk-ant-api03-", URLSAFE, 95, "anthropic-key"),
    ("SK", HEX, 32, "twilio-key"),
]

tokens = st.sampled_from(PROVIDERS).flatmap(
    lambda p: st.tuples(st.just(p[0]), st.text(p[1], min_size=p[2], max_size=p[2]), st.just(p[3]))
)
keys = st.one_of(
    st.sampled_from(
        ["name", "key", "value", "spec", "env", "args", "data", "password", "config", "items", "publicKey"]
    ),
    st.text(min_size=1, max_size=8),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.sampled_from(["--password", "--token", "mysql"])
)
json_docs = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


def embed(data: st.DataObject, doc: Any, value: Any) -> tuple[Any, str]:
    """Put `value` somewhere in `doc` (a new member of some dict, an item of some list, or a new root)."""
    root = {"root": doc}
    containers: list[tuple[Any, tuple[str | int, ...]]] = []

    def collect(node: Any, parts: tuple[str | int, ...]) -> None:
        if isinstance(node, dict | list):
            containers.append((node, parts))
            for k, v in node.items() if isinstance(node, dict) else enumerate(node):
                collect(v, (*parts, k))

    collect(root, ())
    node, parts = data.draw(st.sampled_from(containers))
    if isinstance(node, dict):
        key = data.draw(keys)
        node[key] = value
        parts = (*parts, key)
    else:
        index = data.draw(st.integers(0, len(node)))
        node.insert(index, value)
        parts = (*parts, index)
    return root, "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), doc=json_docs, tok=tokens, sentence=st.sampled_from(["{}", "token {} here", "x={}", "use {}."]))
def test_property_provider_token_in_a_random_document_is_found(
    data: st.DataObject, doc: Any, tok: tuple[str, str, str], sentence: str
) -> None:
    prefix, body, kind = tok
    secret = prefix + body
    root, path = embed(data, doc, sentence.format(secret))
    findings = find_secrets(root)
    assert kind in {f.kind for f in findings if f.path == path}, (path, findings)
    assert secret not in secret_gate_message(findings, "doc") + repr(findings)


names = st.from_regex(r"[A-Z][A-Z0-9_]{0,14}", fullmatch=True)
segments = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True)
paths = st.lists(segments, min_size=1, max_size=4).map("/".join)
references = st.one_of(
    st.builds(lambda p, f: f"vault://{p}#{f}", paths, segments),
    st.builds(lambda p: f"op://{p}", paths),
    st.builds(lambda n: f"env://{n}", names),
    st.builds(lambda n: "${" + n + "}", names),
    st.builds(lambda n: "${" + n + ":-}", names),
    st.builds(lambda n: "$" + n, names),
    st.builds(lambda p: f"awssm://{p}", paths),
    st.builds(lambda p: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{p}", paths),
    st.builds(lambda a, b: "{{ .Values." + a.replace("-", "_") + "." + b.replace("-", "_") + " }}", segments, segments),
    st.builds(lambda n, k: {"secretKeyRef": {"name": n, "key": k}}, segments, segments),
    st.builds(lambda n: {"valueFrom": {"secretKeyRef": {"name": n, "key": "password"}}}, segments),
    st.builds(lambda n: {"secretRef": {"name": n}}, segments),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), doc=json_docs, ref=references)
def test_property_reference_in_a_random_document_is_never_found(data: st.DataObject, doc: Any, ref: Any) -> None:
    assert is_reference(ref)
    root, path = embed(data, doc, ref)
    assert not [f for f in find_secrets(root) if f.path == path or f.path.startswith(path + "/")]


# --- the plugin prefilter is exact ------------------------------------------------------------------------


def _unfiltered_token_kinds(text: str) -> list[str]:
    """Layer 1 as it would be without the literal prefilter on detect-secrets' plugins."""
    from cublab.domain import secrets

    kinds = [
        secrets._KIND_OF_TYPE[p.secret_type] for p in secrets._plugins() if any(True for _ in p.analyze_string(text))
    ]
    return kinds + [kind for kind, pattern in secrets._OWN_PATTERNS if pattern.search(text)]


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (str(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_every_plugin_has_a_prefilter() -> None:
    from cublab.domain import secrets

    assert {p.secret_type for p in secrets._plugins()} <= set(secrets._PLUGIN_NEEDS)


def test_plugin_prefilter_drops_nothing_on_the_corpus() -> None:
    from cublab.domain import secrets

    texts = [s for _, _, doc, _ in (p.values for p in LITERAL_PARAMS) for s in _strings(doc)]
    texts += [s for _, doc in LOOKALIKES for s in _strings(doc)] + PROSE_LOOKALIKES
    assert len(texts) > 1000
    for text in texts:
        assert secrets._token_kinds(text) == _unfiltered_token_kinds(text)


FRAGMENTS = [
    "aws", "AWS_", "AKIA", "ASIA", "A3TX", "key", "Key=", "pwd", "pass", "token", "secret", "cl", "CL", "ibm", "iam",
    "cloud", "sl", "softlayer", "AccountKey=", "gh", "ghp_", "gl", "glpat-", "GR1348941", "eyJ", "-us", "_authToken=",
    "//registry/:", "T3BlbkFJ", "sk-", "BEGIN ", "PRIVATE KEY", "PuTTY-User-Key-File-2", "pypi-AgEIcHlwaS5vcmc",
    "SG.", "xox", "XOXB-", "hooks.slack.com/services/T", "sq0csp-", "k_live_", "AC", "SK", "M", ".", ":", "=", " ",
    "'", '"', "-", "_", "/", "0123456789", "abcdef0123456789", "ABCDEFGHIJKLMNOP",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=40).map("".join))
def test_property_plugin_prefilter_drops_nothing(text: str) -> None:
    from cublab.domain import secrets

    assert secrets._token_kinds(text) == _unfiltered_token_kinds(text)
