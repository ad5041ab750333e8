"""Bad input: a tool error naming the field and the limit, nothing written, and the server keeps serving.

One server and one database serve the whole table (building a fresh one per case
would dominate the run time); each case compares a full dump of every table before
and after the bad call, so a stray write in any case fails that case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from mcp import Client

from cublab.mcp_server import build_server
from support.clock import Clock
from support.mcp import call, call_error
from support.runtime import make_runtime

pytestmark = pytest.mark.anyio

TABLES = ("sandbox", "experiment", "variant", "result_batch", "measurement", "audit_event", "audit_head")
UNKNOWN = {"sandbox": "sbx_" + "0" * 26, "experiment": "exp_" + "0" * 26, "variant": "var_" + "0" * 26}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def world_clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def world_runtime(tmp_path_factory, world_clock):
    rt = make_runtime(str(tmp_path_factory.mktemp("bad") / "cublab.db"), world_clock)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
async def world(world_runtime, world_clock) -> Any:
    """A live sandbox, an expired one and a destroyed one, each with an experiment and a variant 'a'."""
    rt = world_runtime
    async with Client(build_server(rt)) as client:
        w: dict[str, Any] = {"client": client, "runtime": rt}
        for key, ttl in (("live", "72h"), ("expired", "1h"), ("destroyed", "72h")):
            sandbox = await call(client, "sandbox_spawn", name=key, purpose="bad input", ttl=ttl)
            exp = await call(
                client,
                "experiment_create",
                sandbox_id=sandbox["id"],
                name=key,
                hypothesis="h",
                objective_metric="m",
                direction="minimize",
            )
            variant = await call(
                client, "variant_log", experiment_id=exp["id"], name="a", configuration=json.dumps({"k": key})
            )
            await call(
                client, "result_log", experiment_id=exp["id"], points=[{"variant": "a", "metric": "m", "value": 1.0}]
            )
            w[key] = {"sandbox": sandbox["id"], "experiment": exp["id"], "variant": variant["variant"]["id"]}
        await call(client, "sandbox_destroy", sandbox_id=w["destroyed"]["sandbox"])
        world_clock.advance(hours=2)  # the 1h sandbox is now expired, the 72h ones are not
        yield w


def dump(rt) -> dict[str, list[tuple]]:
    with rt.ctx.db.engine.connect() as conn:
        return {t: sorted(tuple(map(str, r)) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))) for t in TABLES}


def points(n: int, variant: str = "a", value: Any = 1.0) -> list[dict[str, Any]]:
    return [{"variant": variant, "metric": "m", "value": value} for _ in range(n)]


W = Callable[[dict], dict[str, Any]]


def live_exp(w):
    return w["live"]["experiment"]


def live_sbx(w):
    return w["live"]["sandbox"]


def new_exp(sandbox_id: str, **over) -> dict[str, Any]:
    return {
        "sandbox_id": sandbox_id,
        "name": "x",
        "hypothesis": "h",
        "objective_metric": "m",
        "direction": "minimize",
        **over,
    }


def variant_args(experiment_id: str, **over) -> dict[str, Any]:
    return {"experiment_id": experiment_id, "name": "new", "configuration": json.dumps({"fresh": True}), **over}


CASES: list[tuple[str, str, W, tuple[str, ...]]] = []


def case(name: str, tool: str, args: W, *expect: str) -> None:
    CASES.append((name, tool, args, expect))


# Ids: malformed (wrong shape or wrong kind) and unknown, for every id field.
ID_FIELDS: list[tuple[str, str, str, Callable[[dict, str], dict[str, Any]]]] = [
    ("sandbox_get", "sandbox_id", "sandbox", lambda w, v: {"sandbox_id": v}),
    ("sandbox_renew", "sandbox_id", "sandbox", lambda w, v: {"sandbox_id": v, "ttl": "1h"}),
    ("sandbox_destroy", "sandbox_id", "sandbox", lambda w, v: {"sandbox_id": v}),
    ("experiment_create", "sandbox_id", "sandbox", lambda w, v: new_exp(v)),
    ("experiment_get", "experiment_id", "experiment", lambda w, v: {"experiment_id": v}),
    ("variant_log", "experiment_id", "experiment", lambda w, v: variant_args(v)),
    ("result_log", "experiment_id", "experiment", lambda w, v: {"experiment_id": v, "points": points(1)}),
    ("experiment_compare", "experiment_id", "experiment", lambda w, v: {"experiment_id": v}),
]
for tool, field, kind, build in ID_FIELDS:
    prefix = UNKNOWN[kind][:4]
    case(f"{tool}-{field}-malformed", tool, lambda w, b=build: b(w, "not-an-id"), field, prefix)
    case(f"{tool}-{field}-wrong-kind", tool, lambda w, b=build, k=kind: b(w, w["live"]["variant"]), field, prefix)
    case(f"{tool}-{field}-unknown", tool, lambda w, b=build, k=kind: b(w, UNKNOWN[k]), field, UNKNOWN[kind])
case("sandbox_get-id-over-64", "sandbox_get", lambda w: {"sandbox_id": "sbx_" + "0" * 100}, "sandbox_id", "64")
case("experiment_list-sandbox_id-malformed", "experiment_list", lambda w: {"sandbox_id": "nope"}, "sandbox_id", "sbx_")
case(
    "experiment_list-cursor-malformed", "experiment_list", lambda w: {"cursor": w["live"]["sandbox"]}, "cursor", "exp_"
)
case("sandbox_list-cursor-malformed", "sandbox_list", lambda w: {"cursor": "garbage"}, "cursor", "sbx_")
case("sandbox_list-limit-over", "sandbox_list", lambda w: {"limit": 201}, "limit", "200")
case("sandbox_list-limit-zero", "sandbox_list", lambda w: {"limit": 0}, "limit", "1")
case(
    "result_log-unknown-variant-id",
    "result_log",
    lambda w: {"experiment_id": live_exp(w), "points": points(1, UNKNOWN["variant"])},
    "points[0].variant",
    UNKNOWN["variant"],
)
case(
    "result_log-variant-of-other-experiment",
    "result_log",
    lambda w: {"experiment_id": live_exp(w), "points": points(1, w["expired"]["variant"])},
    "points[0].variant",
)

# Names over 200 characters.
LONG = "n" * 201
case("spawn-name-201", "sandbox_spawn", lambda w: {"name": LONG, "purpose": "p"}, "name", "200")
case("experiment-name-201", "experiment_create", lambda w: new_exp(live_sbx(w), name=LONG), "name", "200")
case(
    "objective-201",
    "experiment_create",
    lambda w: new_exp(live_sbx(w), objective_metric=LONG),
    "objective_metric",
    "200",
)
case("variant-name-201", "variant_log", lambda w: variant_args(live_exp(w), name=LONG), "name", "200")
case(
    "metric-201",
    "result_log",
    lambda w: {"experiment_id": live_exp(w), "points": [{"variant": "a", "metric": LONG, "value": 1.0}]},
    "metric",
    "200",
)
case("spawn-name-empty", "sandbox_spawn", lambda w: {"name": "  ", "purpose": "p"}, "name", "1 character")

# Configurations.
case(
    "config-over-1mib-object",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration=json.dumps({"k": "x" * MIB})),
    "configuration",
    "1 MiB",
)
case(
    "config-over-1mib-text",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration="k: " + "x" * MIB),
    "configuration",
    "1 MiB",
)
case("config-list", "variant_log", lambda w: variant_args(live_exp(w), configuration=[1, 2]), "configuration", "string")
case(
    "config-object",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration={"a": 1}),
    "configuration",
    "string",
)
case(
    "config-json-list",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration="[1, 2]"),
    "configuration",
    "JSON object",
)
case(
    "config-yaml-scalar",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration="3"),
    "configuration",
    "JSON object",
)
case(
    "config-yaml-list",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration="- a\n- b\n"),
    "configuration",
    "JSON object",
)
case(
    "config-yaml-invalid",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration="a: [1, 2"),
    "configuration",
    "YAML",
)
case(
    "config-empty-text",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration=""),
    "configuration",
    "JSON object",
)

case(
    "config-nested-65-json",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration='{"a": ' + "[" * 64 + "]" * 64 + "}"),
    "configuration",
    "64 levels",
)
case(
    "config-nested-100k-json",  # deeper than the JSON parser recurses: refused by the limit, not a crash
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration='{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "configuration",
    "64 levels",
)
case(
    "config-nested-65-yaml",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration="a: " + "[" * 64 + "]" * 64),
    "configuration",
    "64 levels",
)
case(
    "config-json-nan",
    "variant_log",
    lambda w: variant_args(live_exp(w), configuration='{"a": NaN}'),
    "configuration",
    "JSON",
)

# Result batches.
case("batch-10001", "result_log", lambda w: {"experiment_id": live_exp(w), "points": points(10_001)}, "points", "10000")
case("batch-empty", "result_log", lambda w: {"experiment_id": live_exp(w), "points": []}, "points", "at least 1")
# The MCP client serialises float('nan') and float('inf') as JSON null (JSON has no NaN literal): refused as "not a number".
for label, value in (("nan", float("nan")), ("inf", float("inf")), ("-inf", float("-inf"))):
    case(
        f"value-float-{label}",
        "result_log",
        lambda w, v=value: {"experiment_id": live_exp(w), "points": points(1, value=v)},
        "points.0.value",
        "number",
    )
# A client may also spell them as strings, which pydantic would parse as floats: refused as not finite.
for text in ("NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1e400"):
    case(
        f"value-string-{text}",
        "result_log",
        lambda w, v=text: {"experiment_id": live_exp(w), "points": points(1, value=v)},
        "points.0.value",
        "finite",
    )
case(
    "batch-9-good-1-bad",
    "result_log",
    lambda w: {"experiment_id": live_exp(w), "points": points(9) + points(1, "no-such-variant")},
    "points[9].variant",
    "no-such-variant",
)
case(
    "batch-9-good-1-nan",
    "result_log",
    lambda w: {"experiment_id": live_exp(w), "points": points(9) + points(1, value="NaN")},
    "points.9.value",
    "finite",
)
case(
    "step-negative",
    "result_log",
    lambda w: {"experiment_id": live_exp(w), "points": [{"variant": "a", "metric": "m", "value": 1.0, "step": -1}]},
    "step",
    "0",
)
for label, value in (("1e308", 1e308), ("-1.7e308", -1.7e308), ("just-over", 1.000001e15)):
    case(
        f"value-huge-{label}",
        "result_log",
        lambda w, v=value: {"experiment_id": live_exp(w), "points": points(2, value=v)},
        "points.0.value",
        "1000000000000000",
    )
for field, limit in (("step", 2**63 - 1), ("repetition", 2**31 - 1)):
    case(
        f"{field}-over-its-column",
        "result_log",
        lambda w, f=field, n=limit: {"experiment_id": live_exp(w), "points": [{**points(1)[0], f: n + 1}]},
        field,
        str(limit),
    )

# ttl: zero, negative, unparseable, over the 72h maximum; on spawn and renew.
for label, ttl, expect in (
    ("zero", "0h", ("zero",)),
    ("zero-bare", "0", ("duration",)),
    ("negative", "-1h", ("duration",)),
    ("unparseable", "soon", ("duration",)),
    ("over-max", "73h", ("maximum", "72h")),
    ("over-max-days", "4d", ("maximum", "72h")),
    ("over-max-minutes", "4321m", ("maximum", "72h")),
    ("absurd-days", "99999999999999999999d", ("3650d",)),
    ("absurd-weeks", "10000000000w", ("3650d",)),
    ("absurd-seconds", "9223372036854775807s", ("3650d",)),
):
    case(
        f"spawn-ttl-{label}", "sandbox_spawn", lambda w, t=ttl: {"name": "s", "purpose": "p", "ttl": t}, "ttl", *expect
    )
    case(f"renew-ttl-{label}", "sandbox_renew", lambda w, t=ttl: {"sandbox_id": live_sbx(w), "ttl": t}, "ttl", *expect)

# Work on an expired or a destroyed sandbox.
for state in ("expired", "destroyed"):
    case(
        f"experiment-in-{state}", "experiment_create", lambda w, s=state: new_exp(w[s]["sandbox"]), "sandbox_id", state
    )
    case(f"variant-in-{state}", "variant_log", lambda w, s=state: variant_args(w[s]["experiment"]), "sandbox_id", state)
    case(
        f"result-in-{state}",
        "result_log",
        lambda w, s=state: {"experiment_id": w[s]["experiment"], "points": points(1)},
        "sandbox_id",
        state,
    )
    case(
        f"renew-{state}",
        "sandbox_renew",
        lambda w, s=state: {"sandbox_id": w[s]["sandbox"], "ttl": "1h"},
        "sandbox_id",
        state,
    )

# Objective direction.
for direction in ("up", "MINIMIZE", "", "min"):
    case(
        f"direction-{direction or 'empty'}",
        "experiment_create",
        lambda w, d=direction: new_exp(live_sbx(w), direction=d),
        "direction",
        "minimize",
        "maximize",
    )


@pytest.mark.parametrize(("tool", "build", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_input_is_refused_writes_nothing_and_the_server_keeps_serving(world, tool, build, expect) -> None:
    client, rt = world["client"], world["runtime"]
    before = dump(rt)
    message = await call_error(client, tool, **build(world))
    for needle in expect:
        assert needle.lower() in message.lower(), f"{needle!r} not in: {message}"
    assert dump(rt) == before
    # The server still serves: a good read and a good write both work.
    assert (await call(client, "sandbox_get", sandbox_id=live_sbx(world)))["status"] == "active"
    good = await call(client, "result_log", experiment_id=live_exp(world), points=points(1))
    assert good["points"] == 1


async def test_the_table_covers_every_ledger_tool_that_takes_input(world) -> None:
    tools = {t.name for t in (await world["client"].list_tools()).tools}
    ledger = {
        "sandbox_spawn",
        "sandbox_get",
        "sandbox_list",
        "sandbox_renew",
        "sandbox_destroy",
        "experiment_create",
        "experiment_get",
        "experiment_list",
        "variant_log",
        "result_log",
        "experiment_compare",
    }
    assert ledger <= tools
    assert {c[1] for c in CASES} == ledger


async def test_values_at_the_documented_limits_are_accepted(world) -> None:
    logged = await call(
        world["client"],
        "result_log",
        experiment_id=live_exp(world),
        points=points(1, value=1e15) + points(1, value=-1e15) + points(1, value=5e-324),
    )
    assert logged["points"] == 3


async def test_unknown_argument_is_refused(world) -> None:
    message = await call_error(
        world["client"], "sandbox_renew", sandbox_id=live_sbx(world), ttl="1h", explanaton="typo"
    )
    assert "explanaton" in message


async def test_a_metric_named_like_a_secret_is_refused(world) -> None:
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    message = await call_error(
        world["client"],
        "result_log",
        experiment_id=live_exp(world),
        points=[*points(2), {"variant": "a", "metric": key, "value": 1.0}],
    )
    assert "/points/2/metric" in message and "literal secret" in message and key not in message


async def test_an_objective_metric_that_is_a_secret_is_refused(world) -> None:
    key = "ghp_" + "a" * 14 + "B1c2D3e4F5g6H7i8J9k0L1"
    message = await call_error(world["client"], "experiment_create", **new_exp(live_sbx(world), objective_metric=key))
    assert "objective_metric" in message and key not in message
