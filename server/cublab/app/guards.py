"""The boundary: what an agent or human sends is checked before anything is stored.

Configuration documents (variants, captures, bypass_check's document) are mappings of at
most 1 MiB as stored, and they, like free text (names, purposes, rationales,
explanations), may hold references to secrets, never their values.
"""

from __future__ import annotations

from typing import Any

import yaml

from cublab.app.inputs import MAX_CONFIG_BYTES
from cublab.domain.canonical import canonical_json
from cublab.domain.errors import InvalidInput
from cublab.domain.secrets import find_secrets, find_secrets_in_text, secret_gate_message


def refuse_secrets_in_text(**texts: str | None) -> None:
    """Free text (names, purposes, rationales, explanations) is stored too: no literal secret may ride in it."""
    findings = []
    for field, text in texts.items():
        if text:
            findings += find_secrets_in_text(text, path=field)
    if findings:
        raise InvalidInput(secret_gate_message(findings, ", ".join(sorted({f.path for f in findings}))))


def refuse_secrets(field: str, document: Any) -> None:
    """A configuration document may hold references to secrets, never their values."""
    findings = find_secrets(document)
    if findings:
        raise InvalidInput(secret_gate_message(findings, field))


def _refuse_over_limit(field: str, size: int) -> None:
    if size > MAX_CONFIG_BYTES:
        raise InvalidInput(f"{field}: {size:,} bytes is over the limit of 1 MiB ({MAX_CONFIG_BYTES:,} bytes)")


def refuse_oversized(field: str, document: Any) -> None:
    """The limit is on the document as it is stored (canonical JSON), whatever form it came in."""
    try:
        size = len(canonical_json(document).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{field}: cannot be stored as JSON ({exc}); use strings, numbers, booleans, null, lists and objects"
        ) from None
    _refuse_over_limit(field, size)


def parse_config(config: dict[str, Any] | str) -> dict[str, Any]:
    """A configuration is a mapping: given as a JSON object, or as YAML text of one."""
    if isinstance(config, str):
        _refuse_over_limit("config", len(config.encode("utf-8")))  # before the YAML parser reads it
        try:
            parsed = yaml.safe_load(config)
        except yaml.YAMLError as exc:
            raise InvalidInput(
                f"config: the text is neither a JSON object nor valid YAML ({str(exc).splitlines()[0]})"
            ) from None
    else:
        parsed = config
    if not isinstance(parsed, dict):
        raise InvalidInput(f"config: must be a JSON object (a mapping of keys to values), got {type(parsed).__name__}")
    refuse_oversized("config", parsed)
    return parsed
