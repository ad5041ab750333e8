"""The secret gate: literal secrets never reach storage, references do.

Guarantee 3 of the design says a variant, a proposal or an audit event never
holds a literal secret. This module finds them, by JSON Pointer (RFC 6901), and
never keeps or prints the value: a `Finding` is only a path and a kind.

Detection is layered, most specific first:
1. detect-secrets' regex plugins (AWS, GitHub, GitLab, Slack, Stripe, JWT,
   private keys, SendGrid, Twilio, npm, PyPI, ...) run in-process on each string.
   We call the plugin classes' `analyze_string` directly instead of
   `scan_line`, because `scan_line` reads and mutates detect-secrets' global
   settings, which is not safe with many agents calling at once.
2. Our own patterns for what it misses: credentials in URLs, Google/Anthropic
   keys, fine-grained GitHub tokens, Artifactory API tokens.
3. The key-name rule: a member named like a secret (password, token, api_key,
   client_secret, private_key, credentials, ...) with a literal value, and the
   k8s env form `{"name": "DB_PASSWORD", "value": "..."}`.
4. Base64 high entropy (detect-secrets' Shannon entropy, limit 4.5) on runs of
   23+ characters. Hex-only strings are NOT judged by entropy: image digests
   (`sha256:<hex>`), commit SHAs, checksums and UUIDs are everywhere in config and
   look exactly like hex keys; a hex secret is still caught by its name (layer 3).
   detect-secrets' Artifactory "AP..." password pattern and the public-IP plugin
   are left out: they flag ordinary identifiers and addresses.

What passes (see `is_reference`): references, empty strings, booleans, and
placeholders such as `<redacted>`, `CHANGEME`, `***`. A placeholder carries no
secret material, so keeping it out of storage protects nothing; a reviewer sees
it in the diff and a deployment with it fails loudly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
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
_TEMPLATE = re.compile(r"^(\{\{.*\}\}|\{%.*%\}|<%=.*%>)$", re.DOTALL)  # Helm/Jinja/ERB expression
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
    if _REF_SCHEMES.match(text) or _ARN_REF.match(text) or _BARE_VAR.match(text) or _TEMPLATE.match(text):
        return True
    match = _VAR_REF.match(text)
    if match:
        default = match.group(2)
        return not default or not _string_findings(default, "", named_secret=True)
    return False


def _is_ref_body(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "name" in value
        and set(value) <= _REF_FIELDS
        and all(isinstance(v, str | bool) for v in value.values())
    )


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
    "sessionkey",
)  # fmt: skip
# The value names a k8s Secret object (a reference by name), not the secret itself.
_NOT_SECRET_NAMES = {"existingsecret", "kubernetessecret", "k8ssecret", "sealedsecret", "externalsecret"}


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_secret_name(name: str) -> bool:
    """True for `password`, `db_password`, `clientSecret`, `API-KEY`; false for `passwordPolicy`, `tokenTTL`.

    The test is on the end of the name: `passwordPolicy` ends in "policy", `secretName` in "name",
    `tokenTTL` in "ttl", so they describe a secret without holding one. `existingSecret` names a
    k8s Secret object. A bare `secret` member holds a secret.
    """
    norm = _normalise(name)
    if not norm:
        return False
    if norm in _NOT_SECRET_NAMES:
        return False
    return norm.endswith(_SECRET_SUFFIXES)


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
_OWN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("github-token", re.compile(r"github_pat_[A-Za-z0-9_]{60,}")),
    ("google-api-key", re.compile(r"AIza[0-9A-Za-z_\-]{35}")),
    ("anthropic-key", re.compile(r"sk-ant-[a-z0-9]+-[A-Za-z0-9_\-]{40,}")),
    ("openai-key", re.compile(r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{40,}")),
    ("stripe-key", re.compile(r"(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{16,}")),
    ("artifactory-token", re.compile(r"AKC[a-zA-Z0-9]{60,}")),
    ("private-key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
)
_URL_CREDENTIALS = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://([^\s/:@?#]*):([^\s/@?#]+)@")
_PUBLIC_BLOCK = re.compile(
    r"-----BEGIN (CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE REQUEST|X509 CRL|PGP PUBLIC KEY BLOCK)-----"
    r".*?-----END \1-----",
    re.DOTALL,
)
_ASSIGNMENT = re.compile(
    r"""(?<![A-Za-z0-9_])["']?([A-Za-z][A-Za-z0-9_.\-]{0,63})["']?\s*(?::=|=>|=|:)\s*("[^"\n]*"|'[^'\n]*'|[^\s,;'"}\]]+)"""
)
_ENTROPY_RUN = re.compile(r"[A-Za-z0-9+/=_\-]{23,}")
_WORDISH = re.compile(r"[A-Z]?[a-z]{3,}")
_HEX_ONLY = re.compile(r"^[0-9a-fA-F\-]+$")
_ENTROPY_LIMIT = 4.5  # detect-secrets' default for Base64HighEntropyString


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
    from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string

    core = run.strip("=")
    if _HEX_ONLY.match(core) or is_potential_uuid(core) or is_sequential_string(core):
        return False
    if not (re.search(r"[A-Z]", core) and re.search(r"[a-z]", core) and re.search(r"[0-9]", core)):
        return False  # kebab/snake identifiers and paths are low-entropy words, not keys
    # Generated resource names (`MyLambdaExecutionRole-abc123XyZ`) reach the entropy limit too, but
    # are mostly words; random keys are mostly not (99% of random base64 keeps >= half its characters).
    alnum = re.sub(r"[^A-Za-z0-9+]", "", core)
    not_words = re.sub(r"[^A-Za-z0-9+]", "", _WORDISH.sub("", core))
    if len(not_words) < 0.5 * len(alnum):
        return False
    return _entropy().calculate_shannon_entropy(core) > _ENTROPY_LIMIT


def _looks_like_credential(value: str) -> bool:
    """For free text, where `password: rotated monthly` must not count: a word is not a credential."""
    if len(value) < 6 or is_placeholder(value) or is_reference(value):
        return False
    return not re.fullmatch(r"[a-z]+(?:[-_][a-z]+)*|[A-Z][a-z]+", value)


def _string_findings(text: str, path: str, *, named_secret: bool = False) -> list[Finding]:
    """Kinds of secret found in one string, most specific first; empty when it is clean."""
    kinds = _kinds_cached(text, named_secret) if len(text) <= _CACHED_LENGTH else _kinds(text, named_secret)
    return [Finding(path, kind) for kind in kinds]


_CACHED_LENGTH = 256


@lru_cache(maxsize=16384)
def _kinds_cached(text: str, named_secret: bool) -> tuple[str, ...]:
    """Configuration repeats its short strings (keys, kinds, names) across documents and calls:
    the verdict on a string is a pure function of it, so it is computed once."""
    return _kinds(text, named_secret)


def _kinds(text: str, named_secret: bool) -> tuple[str, ...]:
    if not text.strip() or is_reference(text):
        return ()
    kinds: list[str] = []
    for plugin in _plugins():
        if any(True for _ in plugin.analyze_string(text)):
            kinds.append(_KIND_OF_TYPE[plugin.secret_type])
    for kind, pattern in _OWN_PATTERNS:
        if pattern.search(text):
            kinds.append(kind)
    for match in _URL_CREDENTIALS.finditer(text):
        password = match.group(2)
        if not (is_reference(password) or is_placeholder(password) or password.startswith("$")):
            kinds.append("url-credentials")
            break
    for match in _ASSIGNMENT.finditer(text):
        name, value = match.group(1), match.group(2).strip("\"'")
        if is_secret_name(name) and _looks_like_credential(value):
            kinds.append("secret-assignment")
            break
    if named_secret and not kinds and not is_placeholder(text):
        kinds.append("secret-named-key")
    if not kinds:
        scrubbed = _PUBLIC_BLOCK.sub(" ", text)
        if any(_looks_random(run) for run in _ENTROPY_RUN.findall(scrubbed)):
            kinds.append("high-entropy")
    return tuple(dict.fromkeys(kinds))


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


def _walk(node: Any, parts: tuple[str | int, ...], named_secret: bool = False) -> Iterator[Finding]:
    if is_reference(node):
        return
    if isinstance(node, dict):
        env_secret = isinstance(node.get("name"), str) and is_secret_name(node["name"])
        for key, value in node.items():
            key = str(key)
            child = (*parts, key)
            for finding in _string_findings(key, json_pointer(child)):
                if finding.kind not in ("high-entropy", "secret-assignment"):
                    yield finding
            named = is_secret_name(key) or (env_secret and key == "value")
            yield from _walk(value, child, named)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, (*parts, index), named_secret)
    elif isinstance(node, str):
        yield from _string_findings(node, json_pointer(parts), named_secret=named_secret)
    elif named_secret and isinstance(node, int | float) and not isinstance(node, bool):
        yield Finding(json_pointer(parts), "secret-named-key")  # `password: 123456` read from YAML


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
