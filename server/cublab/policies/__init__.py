"""Loading the policy file: the default ships in this folder as `default.yaml`.

Beside it ships `default.json`, the same document parsed ahead of time, with the digest of the YAML it
was parsed from: the first tool call of every `cublab serve` loads the built-in policy, and importing
the YAML parser costs more than reading the policy. It is used only while the digest matches
`default.yaml`, so a stale file costs start-up time, never a different policy.
`tests/unit/test_policy_parsed.py` checks it against the YAML; after a change to `default.yaml`:

    CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_policy_parsed.py
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cublab.domain.errors import InvalidInput
from cublab.domain.policy import Policy


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: str
    digest: str  # sha256 of the file's bytes: the version every decision records


def load_policy(path: str | Path | None = None) -> LoadedPolicy:
    """Read and validate a policy file (the packaged default when `path` is None)."""
    parsed = None
    if path is None:
        raw = resources.files(__package__).joinpath("default.yaml").read_bytes()
        source = "cublab/policies/default.yaml (built in)"
        parsed = parsed_default(_digest(raw))
    else:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"policy: cannot read {path}: {exc.strerror}") from None
        source = str(path)
    data = parsed["policy"] if parsed is not None else parse_yaml(raw, source)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"policy: {source} is invalid: {problems}") from None
    return LoadedPolicy(policy, source, _digest(raw))


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_yaml(raw: bytes, source: str) -> Any:
    import yaml

    try:
        return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ten times faster
    except yaml.YAMLError as exc:
        raise InvalidInput(f"policy: {source} is not valid YAML: {exc}") from None


PARSED_DEFAULT = "default.json"


def parsed_default(digest: str) -> dict[str, Any] | None:
    """`default.json` ({"digest", "policy"}) while it was parsed from the `default.yaml` with this digest, else None."""
    try:
        recorded = json.loads(resources.files(__package__).joinpath(PARSED_DEFAULT).read_bytes())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) and recorded.get("digest") == digest else None


def render_parsed_default() -> str:
    """The text of `default.json` for the `default.yaml` shipped now."""
    raw = resources.files(__package__).joinpath("default.yaml").read_bytes()
    data = parse_yaml(raw, "cublab/policies/default.yaml")
    return json.dumps({"digest": _digest(raw), "policy": data}, indent=1, sort_keys=True) + "\n"
