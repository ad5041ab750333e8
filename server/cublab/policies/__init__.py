"""Loading the policy file: the default ships in this folder as `default.yaml`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
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
    if path is None:
        raw = resources.files(__package__).joinpath("default.yaml").read_bytes()
        source = "cublab/policies/default.yaml (built in)"
    else:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"policy: cannot read {path}: {exc.strerror}") from None
        source = str(path)
    try:
        data = yaml.load(
            raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )  # libyaml: ten times faster at start-up
    except yaml.YAMLError as exc:
        raise InvalidInput(f"policy: {source} is not valid YAML: {exc}") from None
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"policy: {source} is invalid: {problems}") from None
    return LoadedPolicy(policy, source, "sha256:" + hashlib.sha256(raw).hexdigest())
