"""The secret gate at the use-case boundary: what an agent or human sends is
checked before anything is stored (variants, proposals, free text, the audit log)."""

from __future__ import annotations

from typing import Any

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
