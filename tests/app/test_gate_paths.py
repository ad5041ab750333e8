"""The secret gate names where, as a JSON Pointer from the tool's arguments, and never the value,
not even when the value is a key; identifiers and label maps go through it like free text."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from cublab.app.guards import FLAGGED_KEY, refuse_secrets, refuse_secrets_in_labels, refuse_secrets_in_text
from cublab.domain.errors import InvalidInput
from cublab.mcp_server import build_server

pytestmark = pytest.mark.anyio

AWS = "AKIA" + "Z7QW3ERTY5UIOP2A"
GHP = "ghp_" + "k3J9xQ2mW8pL5vN1bR7tY4cH6fD0gS2aZ8eU"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def test_document_paths_start_at_the_argument() -> None:
    message = refusal(refuse_secrets, "config", {"db": {"password": "hunter2hunter2"}})
    assert message.startswith("config: 1 literal secret refused at /config/db/password (")


def test_a_key_that_is_a_secret_is_named_by_position_not_by_itself() -> None:
    message = refusal(refuse_secrets, "config", {"tokens": {GHP: "read"}})
    assert f"/config/tokens/{FLAGGED_KEY}" in message and GHP not in message


def test_keys_with_slashes_and_tildes_are_escaped_once() -> None:
    message = refusal(refuse_secrets, "live_state", {"a/b": {"c~d": AWS}})
    assert "/live_state/a~1b/c~0d (" in message and AWS not in message


def test_text_inside_lists_is_named_by_pointer() -> None:
    message = refusal(refuse_secrets_in_text, {"/units/1": f"prod/{AWS}"}, reason="ok")
    assert message.startswith("units: ") and "/units/1 (" in message and AWS not in message


def test_label_maps_are_judged_key_by_key_and_value_by_value() -> None:
    # {"name": ...} alone looks like a secret reference to the document walker; as labels it is text.
    message = refusal(refuse_secrets_in_labels, "labels", {"name": GHP})
    assert "/labels/name (" in message and GHP not in message
    message = refusal(refuse_secrets_in_labels, "labels", {GHP: "x"})
    assert f"/labels/{FLAGGED_KEY}" in message and GHP not in message


def test_human_text_refuses_control_characters_too() -> None:
    message = refusal(refuse_secrets_in_text, reason="ok\x1b[2J")
    assert message.startswith("/reason: U+001B") and "\x1b" not in message


async def test_identifiers_go_through_the_gate(runtime) -> None:
    async with Client(build_server(runtime)) as client:
        sandbox = (await client.call_tool("sandbox_spawn", {"name": "s", "purpose": "p"})).structured_content
        base = {
            "sandbox_id": sandbox["id"],
            "name": "e",
            "hypothesis": "h",
            "objective_metric": "m",
            "direction": "minimize",
        }
        for field in ("target_space", "target_unit"):
            refused = await client.call_tool("experiment_create", {**base, field: AWS})
            assert refused.is_error and f"/{field} (" in refused.content[0].text
            assert AWS not in refused.content[0].text
        refused = await client.call_tool(
            "sandbox_spawn", {"name": "s", "purpose": "p", "labels": [{"key": "name", "value": GHP}]}
        )
        assert refused.is_error and "/labels/name" in refused.content[0].text
        refused = await client.call_tool(
            "breakglass_declare", {"incident_id": "INC-1", "reason": "r", "units": [f"any/{AWS}"]}
        )
        assert refused.is_error and "/units/0 (" in refused.content[0].text


async def test_an_identity_that_is_a_secret_is_refused(sqlite_url, clock) -> None:
    from support.runtime import make_runtime

    rt = make_runtime(sqlite_url, clock, agent=f"agent:claude-{AWS}")
    try:
        async with Client(build_server(rt)) as client:
            refused = await client.call_tool("sandbox_spawn", {"name": "s", "purpose": "p"})
            assert refused.is_error and "identity" in refused.content[0].text
            assert AWS not in refused.content[0].text and AWS.lower() not in refused.content[0].text
    finally:
        rt.close()
    reader = make_runtime(sqlite_url, clock)
    try:
        async with Client(build_server(reader)) as client:
            assert (await client.call_tool("sandbox_list", {})).structured_content["sandboxes"] == []
    finally:
        reader.close()
