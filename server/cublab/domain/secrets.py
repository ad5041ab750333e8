"""The secret gate: literal secrets never reach storage, references do.

Guarantee 3 of the design says a variant, a proposal or an audit event never
holds a literal secret. This module finds them, by JSON Pointer (RFC 6901), and
never keeps or prints the value: a `Finding` is only a path and a kind.

Detection is layered, most specific first:
1. Token shapes: detect-secrets' regex plugins (AWS, GitHub, GitLab, Slack,
   Stripe, JWT, private keys, SendGrid, Twilio, npm, PyPI, ...) run in-process on
   each string, plus our own patterns for what they miss (fine-grained GitHub,
   Google, OpenAI/Anthropic, Shopify, Databricks, Mailgun, Hugging Face, New Relic,
   Docker Hub, Vault, age, DigitalOcean, ...). We call the plugin classes'
   `analyze_string` directly instead of `scan_line`, because `scan_line` reads and
   mutates detect-secrets' global settings, which is not safe with many agents
   calling at once.
2. Credentials in structure: URLs (`scheme://user:pw@`, `?password=`, `&sig=`,
   JDBC), assignments (`password=...`, `"token": "..."`), command lines
   (`--password x`, `mysql -pX`), `Authorization:` headers, `.netrc` lines, and
   prose ("the db password is X").
3. The key-name rule: a member named like a secret (password, pass, token,
   api_key, client_secret, private_key, credentials, ...) with a literal value, the
   same one level down through value holders (`{"password": {"value": ...}}`), the
   k8s env form `{"name": "DB_PASSWORD", "value": "..."}`, and argument lists
   (`["--token", "..."]`).
4. Base64 is decoded (two levels deep at most, bounded in size) and a blob that
   holds text is judged by that text: base64 of a config with a password is
   refused (kind `base64:<kind>`), base64 of a CA bundle or of an ordinary config
   passes. A blob of random bytes is judged by entropy, as below.
5. Random-looking runs of 23+ base64 characters, after public material is taken
   out: PEM certificates and public keys, SSH public keys, WireGuard public keys,
   SRI hashes, Stripe publishable keys. A run with both letter cases that is not
   made of words and whose Shannon entropy is above a floor that grows with its
   length is refused (`_looks_random`): every random base64/base64url/alphanumeric
   token of 24+ characters with both cases is (docs/threat-model.md). Hex-only strings are NOT judged by entropy: image digests
   (`sha256:<hex>`), commit SHAs, checksums and UUIDs are everywhere in config and
   look exactly like hex keys; a hex secret is still caught by its name (layer 3).
   detect-secrets' Artifactory "AP..." password pattern and the public-IP plugin
   are left out: they flag ordinary identifiers and addresses.

What passes (see `is_reference`): references, empty strings, booleans, and
placeholders such as `<redacted>`, `CHANGEME`, `***`. A placeholder carries no
secret material, so keeping it out of storage protects nothing; a reviewer sees
it in the diff and a deployment with it fails loudly. A reference is only a
reference if it holds no secret itself: `vault://<a token>`, `${<a token>}`,
`{{ "<a token>" }}` and `{"name": "x", "key": "<a token>"}` are literals.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cublab.domain.pointers import pointer

if TYPE_CHECKING:  # detect-secrets is imported on first use (see `_plugins`)
    from detect_secrets.plugins.base import BasePlugin
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

__all__ = [
    "REFERENCE_FORMS",
    "Finding",
    "find_secrets",
    "find_secrets_in_text",
    "is_placeholder",
    "is_reference",
    "json_pointer",
    "secret_gate_message",
]


@dataclass(frozen=True)
class Finding:
    """Where a literal secret is and what it looks like; deliberately not the value."""

    path: str  # JSON Pointer (RFC 6901); "" is the whole document or text
    kind: str  # e.g. "aws-access-key", "private-key", "url-credentials", "secret-named-key"

    def __str__(self) -> str:
        return f"{self.path or '(whole text)'} ({self.kind})"


# --- references -----------------------------------------------------------------------------------

REFERENCE_FORMS = (
    '{"secretKeyRef": {"name": "<secret>", "key": "<key>"}} (or "secretRef")',
    '"vault://<path>#<key>"',
    '"op://<vault>/<item>/<field>"',
    '"env://<NAME>"',
    '"${NAME}"',
    '"awssm://<name>" or an AWS Secrets Manager / SSM parameter ARN',
)
"""The reference forms the gate accepts, as shown in its refusal message."""

_REF_SCHEMES = re.compile(
    r"^(vault|op|env|awssm|aws-sm|ssm|gcpsm|gcp-sm|azkv|azure-kv|k8s-secret|sops|secret)://\S+$", re.IGNORECASE
)
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_VAR_REF = re.compile(r"^\$\{(" + _ENV_NAME + r")(?::?[-=?+](.*))?\}$", re.DOTALL)
_BARE_VAR = re.compile(r"^\$(" + _ENV_NAME + r")$")
_ARN_REF = re.compile(r"^arn:aws[a-z-]*:(secretsmanager|ssm|kms):[a-z0-9-]*:\d{12}:\S+$")
_TEMPLATE = re.compile(r"^(?:\{\{(.*)\}\}|\{%(.*)%\}|<%=(.*)%>)$", re.DOTALL)  # Helm/Jinja/ERB expression
_TEMPLATE_LITERAL = re.compile(r""""((?:[^"\\]|\\.)*)"|'([^']*)'|`([^`]*)`""", re.DOTALL)
# What is left of a template once its one literal is taken out, when it only wraps that literal:
# `{{ "x" }}`, `{{- 'x' | quote -}}`, `<%= "x" %>`.
_TEMPLATE_WRAPPER_ONLY = re.compile(r"^[\s\-=]*(?:\|\s*[A-Za-z_]\w*[\s\-]*)*$")
_REF_OBJECT_KEYS = {"secretRef", "secretKeyRef"}
_REF_FIELDS = {"name", "key", "namespace", "optional"}


def is_reference(value: Any) -> bool:
    """True if `value` points at a secret instead of holding one.

    Accepted: `{"secretRef": {...}}` / `{"secretKeyRef": {...}}` (k8s style, fields name, key?,
    namespace?, optional?), `{"valueFrom": <one of those>}`, the bare `{name, key?, namespace?}`
    object itself, strings `vault://`, `op://`, `env://`, `awssm://`, `ssm://`, `gcpsm://`,
    `azkv://`, `sops://`, `secret://`, AWS ARNs of Secrets Manager secrets, SSM parameters and
    KMS keys, `${VAR}` and `${VAR:-default}` where the default is itself not a secret, `$VAR`,
    and whole-value template expressions (`{{ .Values.x }}`), which are resolved elsewhere.

    None of them counts when it carries a secret itself: a token or a random-looking run behind
    the scheme (`vault://ghp_...`), in the variable name, in a field of the object, or a template
    that only wraps a literal (`{{ "ghp_..." }}`) or has a credential-looking literal in it.
    """
    if isinstance(value, dict):
        if set(value) == {"valueFrom"}:
            return is_reference(value["valueFrom"])
        if value and set(value) <= _REF_OBJECT_KEYS:
            return all(_is_ref_body(v) for v in value.values())
        return _is_ref_body(value)
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _REF_SCHEMES.match(text) or _ARN_REF.match(text) or _BARE_VAR.match(text):
        return _holds_no_token(text)
    template = _TEMPLATE.match(text)
    if template:
        return _template_is_reference(next(g for g in template.groups() if g is not None))
    match = _VAR_REF.match(text)
    if match:
        if not _holds_no_token(match.group(1)):
            return False
        default = match.group(2)
        return not default or not _string_findings(default, "", named_secret=True)
    return False


def _is_ref_body(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "name" in value
        and set(value) <= _REF_FIELDS
        and all(isinstance(v, bool) or (isinstance(v, str) and _holds_no_token(v)) for v in value.values())
    )


def _holds_no_token(text: str) -> bool:
    """A reference's own text (path, name, field) carries no token, URL password or random run."""
    return not (
        _token_kinds(text) or _URL_CREDENTIALS.search(text) or any(map(_looks_random, _ENTROPY_RUN.findall(text)))
    )


def _template_is_reference(expression: str) -> bool:
    """`{{ .Values.db.password }}` refers; `{{ "ghp_..." }}` and `{{ default "S3cr3t!x9" .Values.pw }}` hold."""
    literals = [next(g for g in m.groups() if g is not None) for m in _TEMPLATE_LITERAL.finditer(expression)]
    rest = _TEMPLATE_LITERAL.sub(" ", expression)
    if len(literals) == 1 and _TEMPLATE_WRAPPER_ONLY.match(rest):
        return False  # it wraps a literal and refers to nothing
    return _holds_no_token(rest) and not any(_literal_is_credential(lit) for lit in literals)


_CREDENTIAL_SYMBOL = re.compile(r"[!@#$^&*+=?~]")


def _literal_is_credential(text: str) -> bool:
    """A string literal inside a template or a sentence that reads like a credential, not like a word,
    a format string, a message or an identifier: a token, or letters mixed with digits or symbols."""
    text = text.strip()
    if not text or is_placeholder(text) or is_reference(text):
        return False
    if _token_kinds(text) or any(map(_looks_random, _ENTROPY_RUN.findall(text))):
        return True
    if len(text) < 6 or re.search(r"\s", text) or not re.search(r"[A-Za-z]", text):
        return False
    return bool(re.search(r"\d", text) or _CREDENTIAL_SYMBOL.search(text))


_PLACEHOLDERS = {
    "changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me", "todo", "tbd", "fixme",
    "redacted", "none", "null", "nil", "n/a", "na", "unset", "disabled", "example", "placeholder", "secret",
    "password", "dummy", "xxx", "your-password", "your_password", "your-token", "your-api-key",
}  # fmt: skip
_PLACEHOLDER_SHAPES = re.compile(r"^(<[^<>]{1,60}>|\[[^\[\]]{1,60}\]|[*xX#.\-_]{3,}|\(redacted\))$")


def is_placeholder(value: str) -> bool:
    """`<redacted>`, `CHANGEME`, `***`, `xxxx`: strings that stand in for a secret and hold none."""
    text = value.strip()
    return text.lower() in _PLACEHOLDERS or bool(_PLACEHOLDER_SHAPES.match(text))


# --- names that mean "this is a secret" -----------------------------------------------------------

_SECRET_SUFFIXES = (
    "password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "privatekey", "accesskey",
    "secretkey", "credentials", "credential", "authkey", "signingkey", "encryptionkey", "masterkey",
    "sessionkey", "presharedkey", "privkey", "hmackey", "appkey", "applicationkey", "accountkey",
)  # fmt: skip
# Secret words too short or too common to match as a suffix (`bypass`, `compass`): they count as
# the last word of the name only (`pass`, `db_pass`, `dbPass`, `DB_PW`).
_SECRET_LAST_WORDS = {"pass", "pw"}
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# The value names a k8s Secret object (a reference by name), not the secret itself.
_NOT_SECRET_NAMES = {"existingsecret", "kubernetessecret", "k8ssecret", "sealedsecret", "externalsecret"}
# Members that hold the value of the secret their parent is named for: `{"password": {"value": ...}}`.
_VALUE_HOLDERS = {
    "value", "key", "data", "val", "plain", "plaintext", "raw", "literal", "text", "string", "stringvalue",
    "content", "default", "defaultvalue", "current", "primary", "secondary", "old", "new", "previous", "next",
}  # fmt: skip
_PUBLIC_KEY_SUFFIXES = ("publickey", "pubkey")


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True for `password`, `db_password`, `clientSecret`, `API-KEY`, `pass`, `DB_PASS`; false for
    `passwordPolicy`, `tokenTTL`, `bypass`.

    The test is on the end of the name: `passwordPolicy` ends in "policy", `secretName` in "name",
    `tokenTTL` in "ttl", so they describe a secret without holding one. `existingSecret` names a
    k8s Secret object. A bare `secret` member holds a secret.
    """
    norm = _normalise(name)
    if not norm:
        return False
    if norm in _NOT_SECRET_NAMES:
        return False
    if norm.endswith(_SECRET_SUFFIXES):
        return True
    words = _NAME_WORDS.findall(name)
    return bool(words) and words[-1].lower() in _SECRET_LAST_WORDS


# --- detectors -----------------------------------------------------------------------------------

_KIND_OF_TYPE = {
    "AWS Access Key": "aws-access-key",
    "Azure Storage Account access key": "azure-storage-key",
    "Cloudant Credentials": "cloudant-credentials",
    "Discord Bot Token": "discord-token",
    "GitHub Token": "github-token",
    "GitLab Token": "gitlab-token",
    "IBM Cloud IAM Key": "ibm-cloud-iam-key",
    "IBM COS HMAC Credentials": "ibm-cos-hmac",
    "JSON Web Token": "jwt",
    "Mailchimp Access Key": "mailchimp-key",
    "NPM tokens": "npm-token",
    "OpenAI Token": "openai-key",
    "Private Key": "private-key",
    "PyPI Token": "pypi-token",
    "SendGrid API Key": "sendgrid-key",
    "Slack Token": "slack-token",
    "SoftLayer Credentials": "softlayer-credentials",
    "Square OAuth Secret": "square-oauth-secret",
    "Stripe Access Key": "stripe-key",
    "Telegram Bot Token": "telegram-token",
    "Twilio API Key": "twilio-key",
}
# Each starts with a literal, which lets `re` skip to candidates (an alternation or a lookbehind
# first makes a pattern some 40 times slower on long text).
_OWN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("github-token", r"github_pat_[A-Za-z0-9_]{60,}"),
        ("google-api-key", r"AIza[0-9A-Za-z_\-]{35}"),
        ("google-oauth-secret", r"GOCSPX-[0-9A-Za-z_\-]{24,}"),
        ("google-oauth-token", r"ya29\.[0-9A-Za-z_\-]{30,}"),
        ("anthropic-key", r"sk-ant-[a-z0-9]+-[A-Za-z0-9_\-]{40,}"),
        ("openai-key", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{40,}"),
        ("stripe-key", r"sk_(?:live|test)_[0-9a-zA-Z]{16,}"),
        ("stripe-key", r"rk_(?:live|test)_[0-9a-zA-Z]{16,}"),
        ("artifactory-token", r"AKC[a-zA-Z0-9]{60,}"),
        ("private-key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
        ("shopify-token", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"),
        ("databricks-token", r"dapi[a-f0-9]{32}"),
        ("mailgun-key", r"key-[0-9a-zA-Z]{32}(?![0-9a-zA-Z])"),
        ("huggingface-token", r"hf_[A-Za-z0-9]{30,}"),
        ("huggingface-token", r"api_org_[A-Za-z0-9]{30,}"),
        ("newrelic-key", r"NR(?:AK|II|IQ|RA)-[A-Za-z0-9_\-]{20,}"),
        ("dockerhub-token", r"dckr_(?:pat|oat)_[A-Za-z0-9_\-]{20,}"),
        ("npm-token", r"npm_[A-Za-z0-9]{36}"),
        ("slack-token", r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+"),
        ("vault-token", r"hv[sbr]\.[A-Za-z0-9_\-]{24,}"),
        ("age-secret-key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
        ("digitalocean-token", r"do[por]_v1_[a-f0-9]{64}"),
        ("cublab-token", r"cublab_[A-Za-z0-9_\-]{40,}"),  # cublab's own bearer tokens (app/tokens.py)
    )
)
_URL_CREDENTIALS = re.compile(r"://([^\s/:@?#]{0,256}):([^\s/@?#]{1,256})@")  # any scheme, bounded parts
_ORACLE_THIN = re.compile(r"\bjdbc:oracle:(?:thin|oci):([^\s/@:]+)/([^\s@]+)@")
# URL query parameters (`?password=`, `&sig=` of an Azure SAS, `X-Amz-Signature` of a presigned URL).
_QUERY_PARAM = re.compile(r"[?&]([A-Za-z][\w.\-]{0,63})=([^&#\s\"'<>]{1,256})")
_SIGNATURE_PARAMS = {"sig", "signature", "xamzsignature", "xgoogsignature", "xamzsecuritytoken"}
_ASSIGNMENT = re.compile(
    r"""(?<![A-Za-z0-9_])["']?([A-Za-z][A-Za-z0-9_.\-]{0,63})["']?\s*(?::=|=>|=|:)\s*(\$\{[^}\s]{1,256}\}|"[^"\n]{0,256}"?|'[^'\n]{0,256}'?|[^\s,;'"}\]]{1,64})"""
)
# Prose: "the db password is X", "the API key was set to X": one to three words naming a secret before
# "is"/"was", and a value that reads like a credential.
_PROSE = re.compile(
    r"[ \t](?:is|was)[ \t]+(?:(?:now|still|set[ \t]+to|changed[ \t]+to)[ \t]+)?[\"'`]?([^\s\"'`]{6,256})",
    re.IGNORECASE,
)
# Every name `is_secret_name` accepts, and every signature parameter, holds one of these once
# normalised: a cheap test that skips the name-based rules for the many strings naming no secret.
_SECRET_WORD = re.compile(rb"pass|pw|secret|token|key|credential|sig")
_NOT_ALNUM = bytes(c for c in range(256) if not (ord("a") <= c <= ord("z") or ord("0") <= c <= ord("9")))
# Command lines: `--password hunter2`, `--token=...` (the latter is an assignment too), `mysql -pX`.
_LONG_FLAG_VALUE = re.compile(r"(?<!\S)--([A-Za-z][\w\-]{0,63})(?:=|[ \t]+)(?!-)[\"']?([^\s\"'`]{1,256})")
_MYSQL = re.compile(r"(?<![\w\-])(?:mysql\w*|mariadb[\w\-]*)(?![\w\-])")
_SSHPASS = re.compile(r"(?<![\w\-])sshpass[ \t]+-p[ \t]*[\"']?([^\s\"'`]+)")
_SHORT_P = re.compile(r"(?<!\S)-p([^\s\"'`]+)")
_NOT_A_VALUE_FLAG = re.compile(r"^(?:no|ask|prompt|read|stdin|use|with|require|requires|allow|skip)[-_]", re.IGNORECASE)
_AUTH_HEADER = re.compile(
    r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token|digest)\s+([A-Za-z0-9._~+/=\-]{8,})"
)
# A k8s env entry written as YAML text: `- name: DB_PASSWORD` and `value: ...` on the next line.
_ENV_ENTRY_TEXT = re.compile(
    r"\bname:[ \t]*[\"']?([A-Za-z_][\w.\-]{0,63})[\"']?[ \t]*\r?\n[ \t]*value:[ \t]*[\"']?([^\s\"']+)"
)
_NETRC = re.compile(r"\bmachine\s+\S+\s+login\s+\S+\s+password\s+(\S+)")
_PUBLIC_BLOCK = re.compile(
    r"-----BEGIN (CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE REQUEST|X509 CRL|PGP PUBLIC KEY BLOCK)-----"
    r".*?-----END \1-----",
    re.DOTALL,
)
_SSH_PUBLIC_KEY = re.compile(
    r"(?<![\w\-])(ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)[ \t]+(AAAA[A-Za-z0-9+/]+={0,3})(?![A-Za-z0-9+/=])"
)
# Subresource Integrity: the digest's exact base64 length (sha256 32 bytes, sha384 48, sha512 64).
_SRI = re.compile(
    r"(?<![A-Za-z0-9+/])(?:sha256-[A-Za-z0-9+/]{43}=|sha384-[A-Za-z0-9+/]{64}|sha512-[A-Za-z0-9+/]{86}==)"
    r"(?![A-Za-z0-9+/=])"
)
_STRIPE_PUBLISHABLE = re.compile(r"(?<![A-Za-z0-9])pk_(?:live|test)_[0-9A-Za-z]{16,}")
_CURVE25519_KEY = r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]="  # base64 of 32 bytes
_WIREGUARD_PUBLIC = re.compile(r"(?i)(?:public[_\-]?key|pubkey)[\"']?[ \t]*[:=][ \t]*[\"']?" + _CURVE25519_KEY)
_CURVE25519_VALUE = re.compile("^" + _CURVE25519_KEY + "$")
_ENTROPY_RUN = re.compile(r"[A-Za-z0-9+/=_\-]{23,}")
_HEX_ONLY = re.compile(r"^[0-9a-fA-F\-]+$")
_ENTROPY_LIMIT = 4.5  # detect-secrets' default for Base64HighEntropyString

# Base64 is decoded and judged by what it holds, within bounds a hostile input cannot stretch: runs of
# 23 characters to 64 KiB, two levels deep (base64 in a config in base64). A longer run, or one at the
# third level, is judged by entropy alone. Decoding is linear: the runs of one level are disjoint and
# each decodes to 3/4 of its length.
_B64_PIECES = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_B64_BLOCK = re.compile(r"^[A-Za-z0-9+/\s]+={0,2}\s*$")  # a whole value of base64 wrapped over lines
_B64_MAX_RUN = 64 * 1024
_B64_MAX_DEPTH = 2
# A decoded config's lines `name: value` / `NAME=value` / `name = value`, judged like members.
_CONFIG_LINE = re.compile(
    r"^[ \t]*(?:-[ \t]+)?(?:export[ \t]+)?[\"']?([A-Za-z_][\w.\-]{0,63})[\"']?[ \t]*[:=][ \t]*(.*)$",
    re.MULTILINE,
)
_BASIC_AUTH_TEXT = re.compile(r"^[\w.@+\-]{1,64}:(\S{6,256})$")
_NOT_LITERAL_CONFIG_VALUES = {"true", "false", "yes", "no", "on", "off", "null", "~", "none"}


@lru_cache(maxsize=1)
def _plugins() -> tuple[BasePlugin, ...]:
    """detect-secrets' regex plugins, imported on first use (the import costs ~0.1 s)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    classes: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()
    return tuple(classes[t]() for t in _KIND_OF_TYPE if t in classes)


@lru_cache(maxsize=1)
def _entropy() -> Base64HighEntropyString:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    return Base64HighEntropyString(limit=_ENTROPY_LIMIT)


def _looks_random(run: str) -> bool:
    """A run of base64/base64url characters that reads as a random token, not as an identifier or a hash.

    The guarantee (docs/threat-model.md, tested in tests/unit/test_random_tokens.py): a uniformly random
    token of 24 characters or more over base64, base64url or letters-and-digits, with both letter cases,
    is refused. What passes: hex (digests, commit SHAs, UUIDs: a hex secret is caught by its name),
    one-case runs (kebab/snake names, ULIDs; a random token lacks a case with probability 2(38/64)^n,
    7e-6 at 24 characters, 2e-9 at 40), sequences, and identifiers made of words (`_is_identifier`).
    The entropy floor grows with the length, as the entropy of random text of that length does, and sits
    below it, so it only refuses runs of a few repeated characters. (A fixed 4.5-bit limit, a digit
    requirement and a looser words rule used to let about a quarter of random tokens of 20 to 64
    characters through.)
    """
    core = run.strip("=")
    if _HEX_ONLY.match(core):
        return False
    if not (_UPPER.search(core) and _LOWER.search(core)):
        return False  # kebab/snake identifiers, paths, ULIDs, UPPER_CASE constants
    # Imported only now: most runs are one-case names, judged above without detect-secrets.
    from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string

    if is_potential_uuid(core) or is_sequential_string(core):
        return False
    if _is_identifier(core):
        return False  # generated resource names and identifiers: mostly words
    entropy: float = _entropy().calculate_shannon_entropy(core)
    return entropy > _entropy_floor(len(core))


def _entropy_floor(length: int) -> float:
    """The Shannon entropy (bits per character) a random base64 run of `length` characters stays above.

    Measured (seeded, 40,000 random strings per length): the lowest entropy seen was 3.49 at 24 characters,
    3.87 at 32, 4.18 at 40, 4.64 at 64, 5.05 at 96; the floor keeps 0.35 bit or more below that. It only
    has to refuse a run of a few characters repeated (`aAaAaA...`, `Ab1Ab1...`), whose entropy is lower still.
    """
    return min(_ENTROPY_LIMIT - 0.3, math.log2(max(length, 2)) - 1.5)


_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_WORD = re.compile(r"[A-Z]?[a-z]{2,}")
# The letter pairs that make up 97% of the pairs in the words of Python's standard library source
# (identifiers and prose, camelCase and snake_case split): a word of a name is made of these; a run of
# random letters mostly is not (258 of the 676 pairs).
_COMMON_PAIRS_TEXT = (
    "ab ac ad ag ai ak al am an ap ar as at au av ax ay ba bc be bi bj bl bo br bu by ca ce ch ci ck cl co cr "
    "cs ct cu da dd de di dl do dr ds du ea eb ec ed ee ef eg el em en ep eq er es et ev ew ex ey fa fe ff fi "
    "fl fo fr ft fu ge gh gi gl gn gr gs gu ha he hi ho hr ht ia ib ic id ie if ig il im in io ip ir is it iv "
    "ix iz je jo ke ki la ld le lf li ll lo lp ls lt lu ly ma mb me mi mm mo mp ms mu na nc nd ne nf ng ni nk "
    "nl nn no np ns nt nu nv oa ob oc od of og oi ok ol om on oo op or os ot ou ov ow pa pe pi pl po pp pr ps "
    "pt pu py qu ra rc rd re rg ri rk rl rm rn ro rr rs rt ru rv ry sa sc se sg sh si sk sl so sp ss st su sy "
    "ta tc td te tf th ti tl to tp tr ts tt tu ty ua ub uc ue uf ui ul um un up ur us ut va ve vi wa we wh wi "
    "wo wr xc xe xi xp xt yn yp ys yt ze zi"
)
_COMMON_PAIRS = frozenset(_COMMON_PAIRS_TEXT.split())
_WORD_CHAIN_LETTERS = 14


def _is_word(word: str) -> bool:
    """Has a vowel and is made of common letter pairs: all of them in a short word, all but one in a word of 5
    letters or more."""
    low = word.lower()
    uncommon = sum(low[i : i + 2] not in _COMMON_PAIRS for i in range(len(low) - 1))
    return len(low) >= 3 and uncommon <= (1 if len(low) >= 5 else 0) and _VOWEL.search(low) is not None


def _is_identifier(text: str) -> bool:
    """Words and little else (`/Platform/orders-api/credential`), or mostly words with three or more adjacent
    ones (`orders-prod-EventBridgeRule-A1B2C3D4E5F6`) of `_WORD_CHAIN_LETTERS` letters or more.

    Measured on random strings (seeded, 200,000 per length at 24, 28, 32, 40 and 64 characters, base64 and
    alphanumeric): none counts as an identifier. Looser rules (chains of 10 or 12 letters, half words, words
    of any letter pairs) let 1 in 10^5 to 1 in 25 random strings through.
    """
    letters, words, end, chain, covered = 0, 0, -1, False, 0
    for match in _WORD.finditer(text):
        word = match.group()
        if not _is_word(word):
            letters, words, end = 0, 0, -1
            continue
        covered += len(word)
        letters, words = (letters + len(word), words + 1) if match.start() == end else (len(word), 1)
        end = match.end()
        chain = chain or (letters >= _WORD_CHAIN_LETTERS and words >= 3)
    alnum = len(_NOT_ALNUM_RUN.sub("", text))
    return covered >= 0.8 * alnum or (chain and covered >= 0.6 * alnum)  # paths of words; generated names


_NOT_ALNUM_RUN = re.compile(r"[^A-Za-z0-9]+")
_VOWEL = re.compile(r"[aeiouy]")


def _looks_like_credential(value: str) -> bool:
    """For free text, where `password: rotated monthly` must not count: a word is not a credential."""
    if len(value) < 6 or is_placeholder(value) or is_reference(value):
        return False
    return not re.fullmatch(r"[a-z]+(?:[-_][a-z]+)*|[A-Z][a-z]+", value)


def _is_literal_value(value: str) -> bool:
    """A value given to a secret flag or a secret config line: anything but a placeholder or a reference."""
    value = value.strip().strip("\"'")
    return bool(value) and not (is_placeholder(value) or is_reference(value) or value.startswith(("$", "{{")))


_DIGIT_COLON = re.compile(r"\d:")  # the Telegram token's `<8 to 10 digits>:`


def _names_credential(low: str) -> bool:
    """The keyword Cloudant's and SoftLayer's assignment patterns need after their prefix (key, pwd, pw,
    password, pass, token)."""
    return "key" in low or "pw" in low or "pass" in low or "token" in low


# What each detect-secrets plugin's patterns cannot match without (read off their regexes, case
# folded where they ignore case): a plugin whose literal is absent is not run. It is the costliest
# step of the gate on a string that holds no token, which is almost every string.
_PLUGIN_NEEDS: dict[str, Callable[[str, str], bool]] = {
    "AWS Access Key": lambda t, low: "aws" in low or any(p in t for p in ("AKIA", "ASIA", "ABIA", "ACCA", "A3T")),
    "Azure Storage Account access key": lambda t, low: "AccountKey=" in t,
    "Cloudant Credentials": lambda t, low: "cloudant.com" in low or ("cl" in low and _names_credential(low)),
    "Discord Bot Token": lambda t, low: t.count(".") >= 2,
    "GitHub Token": lambda t, low: "gh" in t,
    "GitLab Token": lambda t, low: "gl" in t or "GR1348941" in t,
    "IBM Cloud IAM Key": lambda t, low: any(w in low for w in ("key", "pwd", "pass", "token")),
    "IBM COS HMAC Credentials": lambda t, low: "secret" in low,
    "JSON Web Token": lambda t, low: "eyJ" in t,
    "Mailchimp Access Key": lambda t, low: "-us" in t,
    "NPM tokens": lambda t, low: "_authToken=" in t,
    "OpenAI Token": lambda t, low: "T3BlbkFJ" in t,
    "Private Key": lambda t, low: "BEGIN" in t or "PuTTY" in t,
    "PyPI Token": lambda t, low: "pypi-" in t,
    "SendGrid API Key": lambda t, low: "SG." in t,
    "Slack Token": lambda t, low: "xox" in low or "hooks.slack.com" in low,
    "SoftLayer Credentials": lambda t, low: "softlayer" in low or ("sl" in low and _names_credential(low)),
    "Square OAuth Secret": lambda t, low: "sq0csp-" in t,
    "Stripe Access Key": lambda t, low: "k_live_" in t,
    "Telegram Bot Token": lambda t, low: ":" in t and _DIGIT_COLON.search(t) is not None,
    "Twilio API Key": lambda t, low: "AC" in t or "SK" in t,
}


def _token_kinds(text: str) -> list[str]:
    """Kinds of the provider token shapes in `text` (layer 1). detect-secrets is loaded only for a text that
    holds some plugin's literal: not for an identity such as `agent:claude-code-7f3a`, checked before the
    first tool call of every `cublab serve`."""
    low = text.lower()
    wanted = {kind for kind in _KIND_OF_TYPE if _PLUGIN_NEEDS.get(kind, _always)(text, low)}
    kinds = (
        [
            _KIND_OF_TYPE[p.secret_type]
            for p in _plugins()
            if p.secret_type in wanted and any(True for _ in p.analyze_string(text))
        ]
        if wanted
        else []
    )
    kinds += [kind for kind, pattern in _OWN_PATTERNS if pattern.search(text)]
    return kinds


def _always(text: str, low: str) -> bool:
    return True


def _string_findings(text: str, path: str, *, named_secret: bool = False, depth: int = 0) -> list[Finding]:
    """Kinds of secret found in one string, most specific first; empty when it is clean."""
    return [Finding(path, kind) for kind in _string_kinds(text, named_secret, depth)]


def _string_kinds(text: str, named_secret: bool = False, depth: int = 0) -> tuple[str, ...]:
    if len(text) <= _CACHED_LENGTH:
        return _kinds_cached(text, named_secret, depth)
    return _kinds(text, named_secret, depth)


_CACHED_LENGTH = 256


@lru_cache(maxsize=16384)
def _kinds_cached(text: str, named_secret: bool, depth: int) -> tuple[str, ...]:
    """Configuration repeats its short strings (keys, kinds, names) across documents and calls:
    the verdict on a string is a pure function of it, so it is computed once."""
    return _kinds(text, named_secret, depth)


def _kinds(text: str, named_secret: bool, depth: int = 0) -> tuple[str, ...]:
    if not text.strip() or is_reference(text):
        return ()
    kinds = _token_kinds(text) + _structural_kinds(text)
    if named_secret and not kinds and not is_placeholder(text):
        kinds.append("secret-named-key")
    if not kinds:
        scrubbed = _scrub_public(text)
        decoded_kinds, runs = _base64_kinds(scrubbed, depth)
        kinds += decoded_kinds
        if not kinds and any(map(_looks_random, runs)):
            kinds.append("high-entropy")
    return tuple(dict.fromkeys(kinds))


def _structural_kinds(text: str) -> list[str]:
    """Layer 2: credentials given by the structure of the text around them."""
    kinds: list[str] = []
    if "://" in text or "jdbc:" in text:
        for match in _URL_CREDENTIALS.finditer(text):
            password = match.group(2)
            if not (is_reference(password) or is_placeholder(password) or password.startswith("$")):
                kinds.append("url-credentials")
                break
        else:
            if any(_is_literal_value(m.group(2)) for m in _ORACLE_THIN.finditer(text)):
                kinds.append("url-credentials")
    if "-p" in text and _has_secret_short_flag(text):
        kinds.append("secret-argument")
    if "authorization" in text.lower() and any(_is_literal_value(m.group(1)) for m in _AUTH_HEADER.finditer(text)):
        kinds.append("authorization-header")
    if not _names_a_secret(text):
        return kinds
    if "=" in text and ("?" in text or "&" in text):
        for match in _QUERY_PARAM.finditer(text):
            name, value = _normalise(match.group(1)), match.group(2)
            if (name in _SIGNATURE_PARAMS and len(value) >= 16 and _is_literal_value(value)) or (
                is_secret_name(name) and _looks_like_credential(value)
            ):
                kinds.append("url-credentials")
                break
    if ("=" in text or ":" in text) and _has_secret_assignment(text):
        kinds.append("secret-assignment")
    if "machine" in text and any(_is_literal_value(m.group(1)) for m in _NETRC.finditer(text)):
        kinds.append("secret-assignment")
    if "value:" in text and any(
        is_secret_name(m.group(1)) and _is_literal_value(m.group(2)) for m in _ENV_ENTRY_TEXT.finditer(text)
    ):
        kinds.append("secret-assignment")
    if "--" in text and _has_secret_long_flag(text):
        kinds.append("secret-argument")
    if _has_secret_in_prose(text):
        kinds.append("secret-in-text")
    return kinds


def _names_a_secret(text: str) -> bool:
    """Whether `_normalise(text)` holds a secret word; on bytes for ASCII text, which is 15 times faster."""
    if text.isascii():
        folded = text.encode("ascii").lower().translate(None, _NOT_ALNUM)
    else:
        folded = _normalise(text).encode("ascii")
    return _SECRET_WORD.search(folded) is not None


def _has_secret_assignment(text: str) -> bool:
    """`name: value` / `name=value` pairs anywhere in the text, one inside another's value too
    (`config: password=...`): each non-secret match resumes the scan at its value."""
    position = 0
    while (match := _ASSIGNMENT.search(text, position)) is not None:
        name, value = match.group(1), match.group(2).strip("\"'")
        if is_secret_name(name) and _looks_like_credential(value):
            return True
        position = match.start(2)
    return False


def _has_secret_long_flag(text: str) -> bool:
    """`--password hunter2`, `--api-key=...` in a command line."""
    for match in _LONG_FLAG_VALUE.finditer(text):
        if _is_secret_flag(match.group(1)) and _looks_like_credential(match.group(2)):
            return True
    return False


def _has_secret_short_flag(text: str) -> bool:
    """`mysql -uroot -pS3cret`, `sshpass -p S3cret ssh ...`."""
    if (
        ("mysql" in text or "mariadb" in text)
        and _MYSQL.search(text)
        and any(_is_literal_value(m.group(1)) for m in _SHORT_P.finditer(text))
    ):
        return True
    return "sshpass" in text and any(_is_literal_value(m.group(1)) for m in _SSHPASS.finditer(text))


def _is_secret_flag(name: str) -> bool:
    """`--password`, `--api-key`, `--client-secret`; not `--no-password`, `--password-file`, `--ask-pass`."""
    return is_secret_name(name) and not _NOT_A_VALUE_FLAG.match(name)


def _has_secret_in_prose(text: str) -> bool:
    for match in _PROSE.finditer(text):
        words = text[max(0, match.start() - 120) : match.start()].split()[-3:]
        words = [w.strip("\"'`(,;:") for w in words]
        named = any(is_secret_name("".join(words[-n:])) for n in range(1, len(words) + 1))
        if named and _literal_is_credential(match.group(1).rstrip(".,;:!?)]}")):
            return True
    return False


# --- public material and base64 ---------------------------------------------------------------------


def _scrub_public(text: str) -> str:
    """Take out what is public by design before entropy is judged: certificates and public keys (PEM,
    SSH, WireGuard), SRI hashes and Stripe publishable keys. Only well-formed ones: `ssh-rsa AAAA<random>`
    whose blob is not an SSH key stays in."""
    if "-----BEGIN" in text:
        text = _PUBLIC_BLOCK.sub(" ", text)
    if "AAAA" in text:
        text = _SSH_PUBLIC_KEY.sub(lambda m: " " if _is_ssh_key_blob(m.group(1), m.group(2)) else m.group(0), text)
    if "sha" in text:
        text = _SRI.sub(" ", text)
    if "pk_" in text:
        text = _STRIPE_PUBLISHABLE.sub(" ", text)
    if "ub" in text or "UB" in text:
        text = _WIREGUARD_PUBLIC.sub(" ", text)
    return text


def _is_ssh_key_blob(key_type: str, blob: str) -> bool:
    """The SSH wire format: length-prefixed fields, the first the key type, that use up the blob."""
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return False
    fields: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            return False
        size = int.from_bytes(data[offset : offset + 4], "big")
        offset += 4
        if offset + size > len(data):
            return False
        fields.append(data[offset : offset + size])
        offset += size
    return len(fields) >= 2 and fields[0] == key_type.encode()


def _b64decode(run: str) -> bytes | None:
    run = "".join(run.split())
    standard, urlsafe = re.search(r"[+/]", run), re.search(r"[_\-]", run)
    if standard and urlsafe:
        return None
    core = run.rstrip("=")
    if len(core) % 4 == 1:
        return None
    padded = core + "=" * (-len(core) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _decoded_text(run: str) -> str | None:
    """The text a base64 run holds, or None when it is not base64 or holds binary (keys, hashes, random
    bytes). Fewer than 12 bytes are not judged as text: too short to hold a config."""
    data = _b64decode(run)
    if data is None or len(data) < 12:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = text.replace("\n", "").replace("\r", "").replace("\t", "")
    return text if stripped.isprintable() else None


def _base64_kinds(text: str, depth: int) -> tuple[list[str], list[str]]:
    """Layer 4: the kinds found inside the base64 in `text` (prefixed `base64:`), and the runs left to
    judge by entropy: all but the base64 that decoded to a document (a config, a PEM bundle, JSON),
    which was judged by what it holds. Random bytes, or one line of text (a password), stay in."""
    runs: list[str] = _ENTROPY_RUN.findall(text)
    if depth >= _B64_MAX_DEPTH:
        return [], runs
    kinds: list[str] = []
    stripped = text.strip()
    if "\n" in stripped and len(stripped) <= _B64_MAX_RUN and _B64_BLOCK.match(stripped):
        decoded = _decoded_text(stripped)  # one value of base64 wrapped over lines, as `base64` prints it
        if decoded is not None:
            kinds += _prefixed(_decoded_kinds(decoded, depth + 1))
            return kinds, [] if _is_document(decoded) else runs
    left: list[str] = []
    for run in runs:
        # `NAME=<base64>` is one run: the base64 is what follows the last `=` that is not padding.
        for piece in _B64_PIECES.findall(run) if len(run) <= _B64_MAX_RUN else ():
            decoded = _decoded_text(piece)
            if decoded is None:
                continue
            kinds += _prefixed(_decoded_kinds(decoded, depth + 1))
            if _is_document(decoded):
                run = run.replace(piece, " ")
        left += _ENTROPY_RUN.findall(run)
    return kinds, left


def _prefixed(kinds: Iterable[str]) -> list[str]:
    return [k if k.startswith("base64:") else "base64:" + k for k in kinds]


def _is_document(text: str) -> bool:
    stripped = text.strip()
    return "\n" in stripped or stripped.startswith(("{", "[", "-----BEGIN"))


def _decoded_kinds(text: str, depth: int) -> list[str]:
    """What a decoded blob holds: JSON is walked like a document (its names count), other text is
    scanned like a string, plus its config lines (`password: x`, `DB_PASSWORD=x`) like members."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            return [f.kind for f in _walk(json.loads(stripped), (), depth=depth)]
        except (ValueError, RecursionError):
            pass
    kinds = list(_kinds(text, False, depth))
    basic = _BASIC_AUTH_TEXT.match(stripped)
    if basic and _looks_like_credential(basic.group(1)):
        kinds.append("basic-auth")  # `user:password`, as in a docker config's `auth` or an HTTP Basic header
    if any(is_secret_name(m.group(1)) and _is_config_literal(m.group(2)) for m in _CONFIG_LINE.finditer(text)):
        kinds.append("secret-named-key")
    return kinds


def _is_config_literal(value: str) -> bool:
    value = re.sub(r"[ \t]+#.*$", "", value).strip().strip("\"'")
    if not value or value.lower() in _NOT_LITERAL_CONFIG_VALUES or value[0] in "|>{[&*!":
        return False
    return _is_literal_value(value)


# --- walking documents -----------------------------------------------------------------------------


def json_pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901: '~' becomes '~0' and '/' becomes '~1' in each reference token (see `domain/pointers.py`)."""
    return pointer(parts)


def find_secrets(document: Any) -> list[Finding]:
    """Every literal secret in a JSON document (dicts, lists, strings), by JSON Pointer."""
    return list(dict.fromkeys(_walk(document, ())))


def find_secrets_in_text(text: str, path: str = "") -> list[Finding]:
    """Literal secrets in free text (an explanation, a rationale, a description)."""
    if not isinstance(text, str):
        return []
    return _string_findings(text, path)


# Kinds a member's name (a key) is not refused for: a key is a name, not a sentence or an assignment.
# A random-looking key is refused: a token used as a map key is stored like any value.
_NOT_KEY_KINDS = {"secret-assignment", "secret-in-text", "secret-argument"}


def _walk(node: Any, parts: tuple[str | int, ...], named_secret: bool = False, *, depth: int = 0) -> Iterator[Finding]:
    if is_reference(node):
        return
    if isinstance(node, dict):
        env_name = node.get("name")
        env_secret = isinstance(env_name, str) and is_secret_name(env_name)
        env_public = isinstance(env_name, str) and _normalise(env_name).endswith(_PUBLIC_KEY_SUFFIXES)
        for key, value in node.items():
            key = str(key)
            child = (*parts, key)
            # The pointer is spelled out only for a finding: almost every string is clean.
            key_kinds = [kind for kind in _string_kinds(key, depth=depth) if kind not in _NOT_KEY_KINDS]
            if key_kinds:
                where = json_pointer(child)
                yield from (Finding(where, kind) for kind in key_kinds)
            norm = _normalise(key)
            if _is_public_key_value(value, norm.endswith(_PUBLIC_KEY_SUFFIXES) or (env_public and key == "value")):
                continue  # a WireGuard / curve25519 public key under a public-key name
            named = (
                is_secret_name(key)
                or (env_secret and key == "value")
                or (named_secret and norm in _VALUE_HOLDERS)  # {"password": {"value": ...}}
            )
            yield from _walk(value, child, named, depth=depth)
    elif isinstance(node, list):
        yield from _argument_findings(node, parts)
        for index, item in enumerate(node):
            yield from _walk(item, (*parts, index), named_secret, depth=depth)
    elif isinstance(node, str):
        kinds = _string_kinds(node, named_secret, depth)
        if kinds:
            where = json_pointer(parts)
            yield from (Finding(where, kind) for kind in kinds)
    elif named_secret and isinstance(node, int | float) and not isinstance(node, bool):
        yield Finding(json_pointer(parts), "secret-named-key")  # `password: 123456` read from YAML


def _is_public_key_value(value: Any, public_name: bool) -> bool:
    return public_name and isinstance(value, str) and bool(_CURVE25519_VALUE.match(value.strip()))


_FLAG = re.compile(r"^--([A-Za-z][\w\-]{0,63})(?:=(.*))?$", re.DOTALL)
_MYSQL_COMMAND = re.compile(r"(?:^|/)(?:mysql\w*|mariadb[\w\-]*)$")


def _argument_findings(items: list[Any], parts: tuple[str | int, ...]) -> Iterator[Finding]:
    """An argument list: `["--password", "x"]`, `["--token=x"]`, `["mysql", "-uroot", "-px"]`,
    `["sshpass", "-p", "x", ...]`. The value is refused wherever it is, word or not."""
    strings = [(i, item) for i, item in enumerate(items) if isinstance(item, str)]
    if not any(item.startswith("-") for _, item in strings):
        return
    mysql = any(_MYSQL_COMMAND.search(item) for _, item in strings)
    sshpass = any(item == "sshpass" or item.endswith("/sshpass") for _, item in strings)
    for index, item in strings:
        following = items[index + 1] if index + 1 < len(items) else None
        if item.startswith("--"):
            flag = _FLAG.match(item)
            if flag is None or not _is_secret_flag(flag.group(1)):
                continue
            if flag.group(2) is not None:
                if _is_literal_value(flag.group(2)):
                    yield Finding(json_pointer((*parts, index)), "secret-argument")
            elif isinstance(following, str) and not following.startswith("-") and _is_literal_value(following):
                yield Finding(json_pointer((*parts, index + 1)), "secret-argument")
        elif item.startswith("-p"):
            if mysql and len(item) > 2 and _is_literal_value(item[2:]):
                yield Finding(json_pointer((*parts, index)), "secret-argument")  # mysql -pS3cret
            elif sshpass and item == "-p" and isinstance(following, str) and _is_literal_value(following):
                yield Finding(json_pointer((*parts, index + 1)), "secret-argument")


# --- the refusal -------------------------------------------------------------------------------------


def secret_gate_message(findings: Iterable[Finding], where: str) -> str:
    """The refusal: each JSON path and kind (never a value) and the reference forms to use instead."""
    items = list(dict.fromkeys(findings))
    listed = "; ".join(str(f) for f in items)
    plural = "secret" if len(items) == 1 else "secrets"
    return (
        f"{where}: {len(items)} literal {plural} refused at {listed}. Literal secrets are never stored: "
        f"keep the value in a secret store and put a reference in its place: {', '.join(REFERENCE_FORMS)}."
    )
