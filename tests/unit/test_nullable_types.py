"""`nullable_types` rewrites pydantic's `anyOf: [X, null]` into `type: [X, "null"]` for cheaper client validation:
the same documents must pass and fail as before."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from cublab.mcp_server import nullable_types

CASES = [
    ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "title": "At"}, True),
    ({"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]}, True),
    (
        {
            "anyOf": [
                {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
                {"type": "null"},
            ],
            "default": None,
        },
        True,
    ),
    ({"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]}, False),  # enum applies to null too
    ({"anyOf": [{"const": "a"}, {"type": "null"}]}, False),  # no type to widen
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, False),  # not a nullable
    ({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}, False),
]
INSTANCES = [None, "x", "2026-01-01T00:00:00Z", 1, 5, {"n": 1}, {}, {"n": "x"}, "a", [], True]


@pytest.mark.parametrize(("schema", "rewritten"), CASES)
def test_the_same_documents_pass(schema, rewritten) -> None:
    wrapped = {"type": "object", "properties": {"f": schema}, "required": ["f"]}
    after = nullable_types(wrapped)
    assert ("anyOf" not in after["properties"]["f"]) is rewritten
    before_v, after_v = Draft202012Validator(wrapped), Draft202012Validator(after)
    for value in INSTANCES:
        assert before_v.is_valid({"f": value}) == after_v.is_valid({"f": value}), value


def test_keywords_beside_anyof_are_kept_and_nested_nullables_rewritten() -> None:
    schema = {
        "anyOf": [
            {"type": "object", "properties": {"d": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
            {"type": "null"},
        ],
        "description": "why",
    }
    assert nullable_types(schema) == {
        "type": ["object", "null"],
        "properties": {"d": {"type": ["string", "null"]}},
        "description": "why",
    }
