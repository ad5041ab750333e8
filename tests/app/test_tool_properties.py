"""Random arguments never produce an internal error.

For each tool, arguments are drawn from its published input schema (and, as often, deliberately wrong: a value of
the wrong type, a number past its limit, an unknown argument, a missing required one). Whatever the server
answers, it is a result or a tool error with a reason: never the SDK's bare "Error executing tool <name>", which
means an exception escaped the use case. On SQLite, and on PostgreSQL where configured. Bounded: a few examples
per tool and backend, no deadline, so the suite stays fast.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from cublab.mcp_server import TOOLS, build_server, inline_refs
from support.mcp import call

EXAMPLES = 12
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
HUGE_NUMBERS = st.sampled_from([2**63, -(2**63) - 1, 2**64, 1e308, -1e308, 1e16, 10**30])
DURATIONS = st.sampled_from(["1h", "2h", "90m", "0s", "99999999999999999999d", "10000000000w", "9223372036854775807s"])


def from_schema(schema: dict[str, Any], known: dict[str, list[str]], name: str = "") -> st.SearchStrategy[Any]:
    """Values valid for `schema` (the subset of JSON Schema pydantic publishes), biased towards real ids."""
    if "anyOf" in schema:
        return st.one_of([from_schema(s, known, name) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "string":
        if name == "ttl":
            return DURATIONS
        ids = known.get(name) or (known["variant"] if name in ("variant", "variant_id") else [])
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: schema.get("minLength", 0) <= len(s) <= schema.get("maxLength", 10**6)
            )
        else:
            text = st.text(
                alphabet=string.ascii_letters + string.digits + " _-:/",
                min_size=schema.get("minLength", 0),
                max_size=min(schema.get("maxLength", 40), 40),
            )
        return st.sampled_from(ids) | text if ids else text
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items", {}), known, name)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 4), 4))
    if kind == "object":
        properties = schema.get("properties")
        if properties:
            required = set(schema.get("required", []))
            return st.fixed_dictionaries(
                {k: from_schema(v, known, k) for k, v in properties.items() if k in required},
                optional={k: from_schema(v, known, k) for k, v in properties.items() if k not in required},
            )
        values = (
            from_schema(schema["additionalProperties"], known)
            if isinstance(schema.get("additionalProperties"), dict)
            else JSON
        )
        return st.dictionaries(st.text(max_size=10), values, max_size=4)
    return JSON


def arguments(schema: dict[str, Any], known: dict[str, list[str]]) -> st.SearchStrategy[dict[str, Any]]:
    valid = from_schema(schema, known)
    fields = sorted(schema["properties"])

    @st.composite
    def violated(draw: st.DrawFn) -> dict[str, Any]:
        args = dict(draw(valid))
        how = draw(st.sampled_from(["wrong", "huge", "unknown", "missing"]))
        field = draw(st.sampled_from(fields))
        if how == "wrong":
            args[field] = draw(JSON)
        elif how == "huge":
            args[field] = draw(HUGE_NUMBERS | DURATIONS)
        elif how == "unknown":
            args[field + "_x"] = draw(JSON)
        else:
            args.pop(field, None)
        return args

    return valid | violated()


@pytest.fixture
def world(any_runtime):
    """A served runtime with a sandbox, an experiment with two measured variants, through a blocking portal."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(build_server(any_runtime))) as client,
    ):

        async def setup() -> dict[str, list[str]]:
            sandbox = await call(client, "sandbox_spawn", name="s", purpose="properties", ttl="2h")
            exp = await call(
                client,
                "experiment_create",
                sandbox_id=sandbox["id"],
                name="e",
                hypothesis="h",
                objective_metric="m",
                direction="minimize",
                target_space="space",
                target_unit="unit",
            )
            variants = []
            for n in range(2):
                logged = await call(
                    client, "variant_log", experiment_id=exp["id"], name=f"v{n}", configuration=json.dumps({"n": n})
                )
                variants.append(logged["variant"]["id"])
            points = [
                {"variant": v, "metric": "m", "value": float(k + n)} for n, v in enumerate(variants) for k in range(6)
            ]
            await call(client, "result_log", experiment_id=exp["id"], points=points)
            return {"sandbox_id": [sandbox["id"]], "experiment_id": [exp["id"]], "variant": [*variants, "v0"]}

        known = portal.call(setup)
        yield portal, client, known


@pytest.mark.parametrize("spec", TOOLS, ids=[s.name for s in TOOLS])
def test_random_arguments_never_cause_an_internal_error(world, spec) -> None:
    portal, client, known = world
    tool = next(t for t in portal.call(client.list_tools).tools if t.name == spec.name)
    schema = inline_refs(tool.input_schema)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(arguments(schema, known))
    def check(args: dict[str, Any]) -> None:
        result = portal.call(client.call_tool, spec.name, args)
        if result.is_error:
            text = result.content[0].text
            assert text.strip() != f"Error executing tool {spec.name}", f"internal error for {args!r}"
            assert "Traceback" not in text

    check()
