"""Stored text refuses NUL, C0/C1 controls (but newline and tab) and bidi overrides at the input model.

Every string every input model accepts is checked (found by walking the models' validation
schemas, so a new field without the check fails here), configuration documents (text) refuse NUL
raw or in any key or string value once parsed, and the refusal names the field, the limit and the code point,
never the text.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import ValidationError

import cublab.app
from cublab.app import inputs
from cublab.app.errors import invalid_input
from cublab.app.guards import parse_config
from cublab.domain.errors import InvalidInput
from cublab.domain.text import nul_in_document, unsafe_character
from cublab.mcp_server import TOOLS, build_server
from support.faults import row_counts
from support.mcp import call, call_error

HOSTILE = ["esc\x1b[2J", "nul\x00", "c1\x9b31m", "rlo\u202eevil", "bell\x07", "lri\u2066x"]
CHECKS = {"_stored_text", "_document_text", "_stored_points"}


def _strings(schema: Any, checked_by: tuple[str, ...] = (), where: str = "") -> Iterator[tuple[str, tuple[str, ...]]]:
    """Every `str` in a pydantic core schema, with the after-validators that wrap it."""
    if isinstance(schema, dict):
        if schema.get("type") == "str":
            yield where, checked_by
            return
        function = schema.get("function")
        if schema.get("type") == "function-after" and isinstance(function, dict):
            checked_by = (*checked_by, function["function"].__name__)
        for key, value in schema.items():
            if key in ("function", "metadata", "serialization"):
                continue
            yield from _strings(value, checked_by, f"{where}.{key}")
    elif isinstance(schema, list | tuple):
        for n, item in enumerate(schema):
            yield from _strings(item, checked_by, f"{where}[{n}]")


def _input_models() -> set[type[inputs.Input]]:
    """Every Input model the app defines: each module of cublab.app imported first, so the set does not depend on
    which modules the tests collected before this one happened to import, then the subclasses walked to any depth."""
    for module in pkgutil.walk_packages(cublab.app.__path__, "cublab.app."):
        importlib.import_module(module.name)
    found: set[type[inputs.Input]] = set()
    pending = [inputs.Input]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


MODELS = sorted({spec.input for spec in TOOLS} | _input_models(), key=lambda m: m.__name__)


def test_the_models_are_found_whatever_was_imported_before() -> None:
    """The same models in a fresh interpreter that imports nothing but the input models' base first (read_models'
    AuditQuery used to appear only when some other test module had imported it)."""
    names = {m.__name__ for m in MODELS}
    assert {"AuditQuery", "ExperimentFilter", "LogResults", "SpawnSandbox"} <= names, sorted(names)
    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import cublab.app.inputs; import test_stored_text as t; "
        "print(' '.join(sorted(m.__name__ for m in t.MODELS)))"
    )
    here = Path(__file__).parent
    fresh = subprocess.run(
        [sys.executable, "-c", script, str(here.parent), str(here)], capture_output=True, text=True, check=True
    )
    assert set(fresh.stdout.split()) == names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_string_of_every_input_model_is_checked(model: type[inputs.Input]) -> None:
    unchecked = [where for where, by in _strings(model.__pydantic_core_schema__) if not CHECKS & set(by)]
    assert not unchecked, f"{model.__name__}: strings without the stored-text check at {unchecked}"


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize(
    ("model", "arguments", "field"),
    [
        (inputs.SpawnSandbox, {"name": "n", "purpose": "p"}, "name"),
        (inputs.SpawnSandbox, {"name": "n", "purpose": "p"}, "purpose"),
        (inputs.SpawnSandbox, {"name": "n", "purpose": "p"}, "context"),
        (inputs.SpawnSandbox, {"name": "n", "purpose": "p"}, "ttl"),
        (inputs.SpawnSandbox, {"name": "n", "purpose": "p"}, "explanation"),
        (inputs.CreateExperiment, {"sandbox_id": "s", "name": "n", "hypothesis": "h", "objective_metric": "m", "direction": "minimize"}, "hypothesis"),
        (inputs.LogVariant, {"experiment_id": "e", "name": "n", "configuration": "{}"}, "description"),
        (inputs.PromoteVariant, {"variant_id": "v", "rationale": "r", "confidence": 1}, "model"),
        (inputs.PromoteVariant, {"variant_id": "v", "rationale": "r", "confidence": 1}, "justification"),
        (inputs.BypassCheck, {"context": "ci"}, "namespace"),
        (inputs.DeclareBreakGlass, {"incident_id": "I", "reason": "r", "units": ["s/u"]}, "reason"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_field_the_limit_and_the_code_point(
    model: type[inputs.Input], arguments: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**arguments, field: text})
    message = str(invalid_input(caught.value))
    assert message.startswith(f"{field}: ")
    assert "no NUL, control characters (other than newline and tab) or bidirectional overrides" in message
    code_point = unsafe_character(text)
    assert code_point is not None and code_point.split(" ")[0] in message
    assert text not in message and not any(c in message for c in "\x00\x1b\x9b\u202e\u2066\x07")


@pytest.mark.parametrize("text", HOSTILE)
def test_label_keys_values_and_list_items_are_checked(text: str) -> None:
    for arguments in (
        {"name": "n", "purpose": "p", "labels": [{"key": text, "value": "v"}]},
        {"name": "n", "purpose": "p", "labels": [{"key": "k", "value": text}]},
    ):
        with pytest.raises(ValidationError) as caught:
            inputs.SpawnSandbox.model_validate(arguments)
        message = str(invalid_input(caught.value))
        assert message.startswith("labels.0.") and "U+" in message and text not in message
    with pytest.raises(ValidationError):
        inputs.DeclareBreakGlass.model_validate({"incident_id": "I", "reason": "r", "units": ["s/u", f"s/{text}"]})
    for field in ("metric", "variant"):  # checked once per distinct text, named at its first point
        good = {"variant": "v", "metric": "m", "value": 1}
        with pytest.raises(ValidationError) as caught:
            inputs.LogResults.model_validate(
                {"experiment_id": "e", "points": [good, good, {**good, field: text}, {**good, field: text}]}
            )
        message = str(invalid_input(caught.value))
        assert message.startswith(f"points.2.{field}: ") and "U+" in message and text not in message


@pytest.mark.parametrize("text", ["plain", "two\nlines", "tab\tseparated", "ünïcödé ✓ 日本語 🚀"])
def test_ordinary_text_is_accepted(text: str) -> None:
    inputs.SpawnSandbox.model_validate(
        {"name": "n", "purpose": text, "labels": [{"key": "k", "value": text}], "explanation": text}
    )


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"a": "x\x00y"}, "/a"),
        ({"a": {"b": ["ok", "\x00"]}}, "/a/b/1"),
        ({"a/b": {"c\x00": 1}}, "/a~1b, key number 1"),
        ({"\x00": 1}, "(the top level), key number 1"),
    ],
)
def test_configuration_documents_refuse_nul_by_path(document: dict[str, Any], where: str) -> None:
    assert nul_in_document(document) == where
    for field in ("configuration", "live_state", "document"):
        with pytest.raises(InvalidInput) as caught:
            parse_config(json.dumps(document), field)  # an escaped NUL, found once parsed
        message = str(caught.value)
        assert message.startswith(f"/{field}{where.removeprefix('(the top level)')}: U+0000 (NUL) is refused")
        assert "\x00" not in message


@pytest.mark.parametrize(
    ("model", "arguments", "field"),
    [
        (inputs.LogVariant, {"experiment_id": "e", "name": "n"}, "configuration"),
        (inputs.CaptureBreakGlass, {"incident_id": "I", "unit": "s/u"}, "live_state"),
        (inputs.BypassCheck, {"context": "ci"}, "document"),
    ],
)
def test_a_raw_nul_in_document_text_is_refused_by_position(model, arguments, field) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**arguments, field: 'a: "x\x00y"'})
    message = str(invalid_input(caught.value))
    assert message.startswith(f"{field}: ") and "U+0000 (NUL) at position 5" in message and "\x00" not in message


def test_yaml_text_is_checked_once_parsed() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config('a:\n  b: "x\\0y"\n')
    assert "/configuration/a/b" in str(caught.value) and "U+0000" in str(caught.value)


def test_other_controls_in_configuration_values_are_data() -> None:
    """A PS1 prompt or a log format may hold ESC: it is stored, and only ever shown escaped."""
    document = {"prompt": "\x1b[32m$ \x1b[0m", "rtl": "\u202eabc", "cr": "a\rb"}
    text = json.dumps(document)
    assert (
        inputs.LogVariant.model_validate({"experiment_id": "e", "name": "n", "configuration": text}).configuration
        == text
    )
    assert parse_config(text) == document


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_tool_refuses_before_anything_is_stored(runtime) -> None:
    async with Client(build_server(runtime)) as client:
        refused = await client.call_tool("sandbox_spawn", {"name": "ok", "purpose": "p\x1b[2Jx"})
        assert refused.is_error
        text = refused.content[0].text
        assert "purpose" in text and "U+001B" in text and "\x1b" not in text
        listed = await client.call_tool("sandbox_list", {})
        assert listed.structured_content["sandboxes"] == []


NUL_CASES = [  # (tool, the text field, the other arguments): text of every kind the issue names
    ("sandbox_spawn", "name", {"purpose": "p"}),
    ("sandbox_spawn", "purpose", {"name": "n"}),
    ("sandbox_spawn", "explanation", {"name": "n", "purpose": "p"}),
    ("experiment_create", "hypothesis", {"name": "e", "objective_metric": "m", "direction": "minimize"}),
    ("experiment_create", "objective_metric", {"name": "e", "hypothesis": "h", "direction": "minimize"}),
    ("variant_log", "name", {"configuration": '{"a": 1}'}),
    ("variant_log", "configuration", {"name": "v"}),
    ("result_log", "metric", {}),
    ("variant_promote", "rationale", {"confidence": 0.5}),
    ("breakglass_declare", "reason", {"incident_id": "INC-1", "units": ["s/u"]}),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("tool", "field", "others"), NUL_CASES, ids=[f"{t}.{f}" for t, f, _ in NUL_CASES])
async def test_nul_gets_the_same_refusal_on_sqlite_and_postgresql(any_runtime, tool, field, others) -> None:
    """NUL used to be stored on SQLite and an internal error on PostgreSQL; now the input model refuses it on both,
    naming the field and the code point, and nothing is written."""
    async with Client(build_server(any_runtime)) as client:
        sandbox = await call(client, "sandbox_spawn", name="s", purpose="p")
        exp = await call(
            client,
            "experiment_create",
            sandbox_id=sandbox["id"],
            name="e",
            hypothesis="h",
            objective_metric="m",
            direction="minimize",
        )
        variant = (await call(client, "variant_log", experiment_id=exp["id"], name="v0", configuration='{"a": 0}'))[
            "variant"
        ]
        ids = {
            "experiment_create": {"sandbox_id": sandbox["id"]},
            "variant_log": {"experiment_id": exp["id"]},
            "variant_promote": {"variant_id": variant["id"]},
        }.get(tool, {})
        if tool == "result_log":
            arguments = {"experiment_id": exp["id"], "points": [{"variant": "v0", "metric": "m\x00x", "value": 1.0}]}
        elif field == "configuration":
            arguments = {**ids, **others, "configuration": '{"a": "x\x00y"}'}
        else:
            arguments = {**ids, **others, field: "bad\x00text"}
        before = row_counts(any_runtime)
        message = await call_error(client, tool, **arguments)
        assert "U+0000" in message and "\x00" not in message, message
        assert (field if tool != "result_log" else "points.0.metric") in message, message
        assert row_counts(any_runtime) == before


def test_json_text_is_read_as_json() -> None:
    """YAML 1.1 reads `1e3` and `1.5e3` as strings; in JSON text they are numbers, as JSON means them."""
    assert parse_config('{"a": 1e3, "b": 1.5E3, "c": -2e-2}') == {"a": 1000.0, "b": 1500.0, "c": -0.02}


def test_yaml_flow_mappings_that_are_not_json_are_read_as_yaml() -> None:
    assert parse_config("{a: 1, b: [x, y]}") == {"a": 1, "b": ["x", "y"]}
    assert parse_config("  {'a': yes}") == {"a": True}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        "a: 1",
        '{"k": {"containers": [{"name": "web", "env": [{"name": "X", "value": "1"}]}]}}',
        "k:\n  containers:\n  - name: web\n    env:\n    - {name: X, value: '1'}\n",
    ],
)
def test_json_and_yaml_of_the_same_document_agree(text: str) -> None:
    import yaml

    assert parse_config(text) == yaml.safe_load(text)


@pytest.mark.parametrize("depth", [1, 63, 64])
def test_configurations_nest_up_to_64_levels(depth: int) -> None:
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    assert parse_config('{"a": ' + inner + "}")
    assert parse_config("a: " + inner)


@pytest.mark.parametrize("depth", [65, 1_000, 200_000])
def test_deeper_configurations_are_refused_by_name_whatever_their_form(depth: int) -> None:
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    for text in ('{"a": ' + inner + "}", "a: " + inner):
        with pytest.raises(InvalidInput, match=r"^document: ") as caught:
            parse_config(text, "document")
        assert "64 levels" in str(caught.value) or "YAML" in str(caught.value)
    nested: Any = []
    for _ in range(min(depth, 5_000) - 1):
        nested = [nested]
    with pytest.raises(InvalidInput, match="64 levels"):
        parse_config({"a": nested}, "document")


def test_a_human_import_reads_its_file_as_agents_documents_are_read(tmp_path, monkeypatch) -> None:
    """`cublab authority import FILE`: the same parser, limits and refusals as an agent's document."""
    from typer.testing import CliRunner

    from cublab.cli import app as cli_app

    monkeypatch.delenv("CUBLAB_AGENT", raising=False)
    db = str(tmp_path / "cublab.db")

    def run(name: str, text: str) -> Any:
        path = tmp_path / name
        path.write_text(text)
        args = ["authority", "import", str(path), "--space", "s", "--unit", name.split(".")[0]]
        return CliRunner().invoke(cli_app, [*args, "--as", "human:alice", "--db", db])

    ok = run("numbers.json", '{"replicas": 3, "ratio": 1.5e3}')
    assert ok.exit_code == 0, ok.output
    shown = CliRunner().invoke(cli_app, ["authority", "show", "s", "numbers", "--db", db])
    assert "1500.0" in shown.output, shown.output
    listed = run("list.yaml", "- a\n- b\n")
    assert listed.exit_code == 2 and "must be a JSON object" in listed.output  # 2: bad input
    deep = run("deep.json", '{"a": ' + "[" * 80 + "]" * 80 + "}")
    assert deep.exit_code == 2 and "nested more than 64 levels" in deep.output
    assert "Traceback" not in deep.output + listed.output
