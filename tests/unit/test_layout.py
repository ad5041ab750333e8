"""The suite's layout holds: every test in a tier, helpers in support/, and nothing imported from conftest."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "app", "e2e", "integrations")


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_test_file_sits_in_a_tier() -> None:
    for path in python_files():
        where = path.relative_to(TESTS)
        if path.name == "conftest.py" or where.parts[0] == "support":
            assert not path.name.startswith("test_"), f"{where}: a test among the helpers"
            continue
        assert where.parts[0] in TIERS, f"{where} is outside tests/unit, tests/app, tests/e2e and tests/integrations"


def test_nothing_imports_from_conftest() -> None:
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or "", *(a.name for a in node.names)]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[-1] == "conftest" for n in names), (
                f"{path.relative_to(TESTS)}:{node.lineno} imports from conftest; put the helper in tests/support/"
            )
