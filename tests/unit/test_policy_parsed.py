"""The built-in policy parsed ahead of time (cublab/policies/default.json) is `default.yaml` as the YAML parser
reads it, and it is used only while it records the digest of that file. After a change to `default.yaml`:

    CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_policy_parsed.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cublab.policies
from cublab.policies import PARSED_DEFAULT, load_policy, parse_yaml, parsed_default, render_parsed_default

FOLDER = Path(cublab.policies.__file__).parent
HOW = "regenerate it: CUBLAB_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_policy_parsed.py"


def test_the_shipped_parse_is_current() -> None:
    if os.environ.get("CUBLAB_UPDATE_SNAPSHOTS") == "1":
        (FOLDER / PARSED_DEFAULT).write_text(render_parsed_default(), encoding="utf-8")
    raw = (FOLDER / "default.yaml").read_bytes()
    parsed = parsed_default(load_policy().digest)
    assert parsed is not None, f"{FOLDER / PARSED_DEFAULT} is missing or stale; {HOW}"
    assert parsed["policy"] == parse_yaml(raw, "default.yaml"), f"{FOLDER / PARSED_DEFAULT} disagrees; {HOW}"


def test_a_parse_of_another_file_is_not_used(monkeypatch) -> None:
    assert parsed_default("sha256:" + "0" * 64) is None
    from_the_parse = load_policy()
    monkeypatch.setattr(cublab.policies, "parsed_default", lambda digest: None)  # as when stale: the YAML is read
    assert load_policy() == from_the_parse


def test_the_built_in_policy_loads_without_the_yaml_parser() -> None:
    script = "import sys; from cublab.policies import load_policy; load_policy(); print('yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
