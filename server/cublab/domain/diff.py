"""A unified diff of two configuration documents, as people read them (YAML, sorted keys)."""

from __future__ import annotations

import difflib
from typing import Any

import yaml


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False, allow_unicode=True) if document else ""


def unified_diff(base: dict[str, Any], target: dict[str, Any], base_label: str, target_label: str) -> str:
    lines = difflib.unified_diff(
        as_yaml(base).splitlines(keepends=True),
        as_yaml(target).splitlines(keepends=True),
        fromfile=base_label,
        tofile=target_label,
    )
    return "".join(lines)
