"""Policy files for tests: the shipped default, and copies with one fault each."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

DEFAULT = resources.files("cublab.policies").joinpath("default.yaml").read_text()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def misspelt(tmp_path: Path) -> str:
    assert DEFAULT.count("    capture_within: 1h") == 1
    return write(tmp_path, "misspelt.yaml", DEFAULT.replace("    capture_within: 1h", "    capture_withn: 1h"))


def without_criterion_8(tmp_path: Path) -> str:
    data = yaml.safe_load(DEFAULT)
    data["bypass"]["criteria"] = [c for c in data["bypass"]["criteria"] if c["number"] != 8]
    return write(tmp_path, "seven.yaml", yaml.safe_dump(data, sort_keys=False))
