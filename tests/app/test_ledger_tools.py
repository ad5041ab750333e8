"""Every ledger tool through the in-process MCP client: the success paths, asserted exactly."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cublab.domain.canonical import content_hash
from support.digest import points_digest
from support.mcp import call, pairs
from support.runtime import AGENT, AGENT_PRINCIPAL, make_runtime

pytestmark = pytest.mark.anyio

SEED_LABELS = {"ephemeral": "true", "bypass-confighub": "true", "bypass-criterion": "agent-local-experimentation"}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def rows(runtime, sql: str, **params) -> list[tuple]:
    with runtime.ctx.db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def count(runtime, table: str) -> int:
    return rows(runtime, f"SELECT count(*) FROM {table}")[0][0]


async def spawn(client, name: str = "sbx", **extra) -> dict:
    return await call(client, "sandbox_spawn", name=name, purpose="try things", **extra)


async def experiment(client, sandbox_id: str, name: str = "e", direction: str = "minimize") -> dict:
    return await call(
        client,
        "experiment_create",
        sandbox_id=sandbox_id,
        name=name,
        hypothesis="smaller is faster",
        objective_metric="latency_ms",
        direction=direction,
        target_space="messagewall-prod",
        target_unit="app",
    )


# ---- sandboxes ---------------------------------------------------------------------------


async def test_spawn_sets_seed_labels_and_expiry_from_the_clock(any_client, clock) -> None:
    sandbox = await spawn(any_client, ttl="2h", labels=pairs({"team": "perf"}))
    assert sandbox["id"].startswith("sbx_") and len(sandbox["id"]) == 30
    assert sandbox["labels"] == {**SEED_LABELS, "ttl": "2h", "team": "perf"}
    assert sandbox["status"] == "active"
    assert sandbox["ttl"] == "2h"
    assert sandbox["created_by"] == AGENT and sandbox["owner"] == AGENT_PRINCIPAL
    assert sandbox["bypass_criterion"] == {"number": 7, "name": "Agent-Local Experimentation"}
    assert when(sandbox["created_at"]) == clock.now
    assert when(sandbox["expires_at"]) == clock.now + timedelta(hours=2)
    assert sandbox["destroyed_at"] is None
    assert await call(any_client, "sandbox_get", sandbox_id=sandbox["id"]) == sandbox


async def test_spawn_defaults_to_the_policy_ttl_and_seed_labels_win(client, clock) -> None:
    sandbox = await spawn(client, labels=pairs({"ephemeral": "false", "ttl": "99d"}))
    assert sandbox["labels"] == {**SEED_LABELS, "ttl": "24h"}
    assert sandbox["ttl"] == "24h"
    assert when(sandbox["expires_at"]) == clock.now + timedelta(hours=24)


async def test_spawn_accepts_exactly_the_maximum_ttl(client, clock) -> None:
    sandbox = await spawn(client, ttl="72h")
    assert when(sandbox["expires_at"]) == clock.now + timedelta(hours=72)


async def test_sandbox_list_pages_newest_first_each_item_once(any_client) -> None:
    made = [(await spawn(any_client, name=f"s{k}"))["id"] for k in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = await call(any_client, "sandbox_list", limit=3, **({"cursor": cursor} if cursor else {}))
        pages += 1
        seen += [s["id"] for s in page["sandboxes"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))
    assert [s["name"] for s in (await call(any_client, "sandbox_list"))["sandboxes"]] == [
        f"s{k}" for k in reversed(range(7))
    ]


async def test_sandbox_list_exact_page_boundary_has_no_empty_last_page(client) -> None:
    made = [(await spawn(client, name=f"s{k}"))["id"] for k in range(6)]
    first = await call(client, "sandbox_list", limit=3)
    second = await call(client, "sandbox_list", limit=3, cursor=first["next_cursor"])
    assert [s["id"] for s in first["sandboxes"] + second["sandboxes"]] == list(reversed(made))
    assert second["next_cursor"] is None


async def test_renew_moves_expiry_from_now(any_client, clock) -> None:
    sandbox = await spawn(any_client, ttl="1h")
    clock.advance(minutes=50)
    renewed = await call(any_client, "sandbox_renew", sandbox_id=sandbox["id"], ttl="3h")
    assert when(renewed["expires_at"]) == clock.now + timedelta(hours=3)
    assert renewed["ttl"] == "3h" and renewed["labels"]["ttl"] == "3h"
    clock.advance(minutes=30)
    again = await call(any_client, "sandbox_renew", sandbox_id=sandbox["id"])  # default: the current ttl
    assert when(again["expires_at"]) == clock.now + timedelta(hours=3)
    assert (await call(any_client, "sandbox_get", sandbox_id=sandbox["id"]))["expires_at"] == again["expires_at"]


async def test_destroy_is_idempotent(any_client, any_runtime, clock) -> None:
    sandbox = await spawn(any_client)
    gone = await call(any_client, "sandbox_destroy", sandbox_id=sandbox["id"])
    assert gone["status"] == "destroyed"
    assert when(gone["destroyed_at"]) == clock.now
    events = count(any_runtime, "audit_event")
    clock.advance(minutes=5)
    assert await call(any_client, "sandbox_destroy", sandbox_id=sandbox["id"]) == gone
    assert count(any_runtime, "audit_event") == events
    assert (await call(any_client, "sandbox_get", sandbox_id=sandbox["id"]))["status"] == "destroyed"


async def test_expiry_applies_on_read(any_client, clock) -> None:
    short = await spawn(any_client, name="short", ttl="1h")
    long = await spawn(any_client, name="long", ttl="3h")
    clock.advance(minutes=59)
    assert (await call(any_client, "sandbox_get", sandbox_id=short["id"]))["status"] == "active"
    clock.advance(minutes=1)  # expires_at itself is already past
    assert (await call(any_client, "sandbox_get", sandbox_id=short["id"]))["status"] == "expired"
    listed = {s["id"]: s["status"] for s in (await call(any_client, "sandbox_list"))["sandboxes"]}
    assert listed == {short["id"]: "expired", long["id"]: "active"}
    assert [s["id"] for s in (await call(any_client, "sandbox_list", status="expired"))["sandboxes"]] == [short["id"]]
    assert [s["id"] for s in (await call(any_client, "sandbox_list", status="active"))["sandboxes"]] == [long["id"]]
    assert (await call(any_client, "sandbox_list", status="destroyed"))["sandboxes"] == []


async def test_reap_command_persists_expiry_with_one_audit_event_each(sqlite_url, clock) -> None:
    from cublab.cli import app

    # Sandboxes made two hours ago by the real clock, so the CLI (which reads the real clock) sees them expired.
    clock.advance(hours=-2)
    rt = make_runtime(sqlite_url, clock)
    try:
        from cublab.app.inputs import SpawnSandbox

        old = [rt.sandboxes.spawn(SpawnSandbox(name=f"old{k}", purpose="p", ttl="1h"), rt.agent).id for k in range(2)]
        fresh = rt.sandboxes.spawn(SpawnSandbox(name="fresh", purpose="p", ttl="72h"), rt.agent).id
    finally:
        rt.close()
    result = CliRunner().invoke(app, ["sandboxes", "reap", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "expired 2 sandbox(es)" in result.output
    rt = make_runtime(sqlite_url, clock)
    try:
        status = dict(rows(rt, "SELECT id, status FROM sandbox"))
        assert status == {old[0]: "expired", old[1]: "expired", fresh: "active"}
        events = rows(rt, "SELECT actor, object_id FROM audit_event WHERE action = 'sandbox.expire' ORDER BY seq")
        assert sorted(events) == sorted([("system:cublab", old[0]), ("system:cublab", old[1])])
        again = CliRunner().invoke(app, ["sandboxes", "reap", "--db", sqlite_url])
        assert "expired 0 sandbox(es)" in again.output
        assert count(rt, "audit_event") == 5
    finally:
        rt.close()


# ---- experiments -------------------------------------------------------------------------


async def test_experiment_create_and_get(any_client, clock) -> None:
    sandbox = await spawn(any_client)
    made = await experiment(any_client, sandbox["id"])
    assert made["id"].startswith("exp_")
    assert {
        k: made[k]
        for k in (
            "sandbox_id",
            "name",
            "hypothesis",
            "objective_metric",
            "direction",
            "target_space",
            "target_unit",
            "created_by",
            "owner",
        )
    } == {
        "sandbox_id": sandbox["id"],
        "name": "e",
        "hypothesis": "smaller is faster",
        "objective_metric": "latency_ms",
        "direction": "minimize",
        "target_space": "messagewall-prod",
        "target_unit": "app",
        "created_by": AGENT,
        "owner": AGENT_PRINCIPAL,
    }
    assert when(made["created_at"]) == clock.now
    log = await call(any_client, "experiment_get", experiment_id=made["id"])
    assert log == {"experiment": made, "sandbox_status": "active", "variants": [], "measurements": []}


async def test_experiment_list_pages_and_filters_by_sandbox(any_client) -> None:
    one, two = (await spawn(any_client, name="one"))["id"], (await spawn(any_client, name="two"))["id"]
    made = []
    for k in range(7):
        made.append((await experiment(any_client, one if k % 2 == 0 else two, name=f"e{k}"))["id"])
    seen, cursor = [], None
    while True:
        page = await call(any_client, "experiment_list", limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(page["experiments"]) <= 3
        seen += [e["id"] for e in page["experiments"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == list(reversed(made))
    in_one = await call(any_client, "experiment_list", sandbox_id=one, limit=2)
    rest = await call(any_client, "experiment_list", sandbox_id=one, limit=2, cursor=in_one["next_cursor"])
    assert [e["id"] for e in in_one["experiments"] + rest["experiments"]] == list(reversed(made[0::2]))
    assert rest["next_cursor"] is None


# ---- variants ----------------------------------------------------------------------------


async def test_variant_log_stores_canonical_config_and_reports_duplicates(any_client, any_runtime, clock) -> None:
    exp = await experiment(any_client, (await spawn(any_client))["id"])
    first = await call(
        any_client,
        "variant_log",
        experiment_id=exp["id"],
        name="a",
        configuration=json.dumps({"b": 2, "a": {"y": 1, "x": [1, 2]}}),
        description="bigger pool",
    )
    v = first["variant"]
    assert first["duplicate"] is False
    assert v["id"].startswith("var_")
    assert v["config"] == {"a": {"x": [1, 2], "y": 1}, "b": 2}
    assert v["content_hash"] == content_hash({"a": {"x": [1, 2], "y": 1}, "b": 2})
    assert (v["name"], v["description"], v["experiment_id"], v["created_by"]) == ("a", "bigger pool", exp["id"], AGENT)
    assert when(v["created_at"]) == clock.now
    stored = rows(any_runtime, "SELECT config_json FROM variant")
    assert stored == [('{"a":{"x":[1,2],"y":1},"b":2}',)]
    variants, events = count(any_runtime, "variant"), count(any_runtime, "audit_event")

    # Same content, other key order, other name: reported, nothing stored.
    again = await call(
        any_client,
        "variant_log",
        experiment_id=exp["id"],
        name="a-again",
        configuration=json.dumps({"a": {"x": [1, 2], "y": 1}, "b": 2}),
    )
    assert again["duplicate"] is True
    assert again["variant"] == v
    assert v["id"] in again["message"]
    assert (count(any_runtime, "variant"), count(any_runtime, "audit_event")) == (variants, events)


async def test_variant_log_accepts_yaml_text(any_client) -> None:
    exp = await experiment(any_client, (await spawn(any_client))["id"])
    yaml_text = "pool:\n  size: 32\n  timeout: 2.5\nfeatures: [a, b]\nenabled: true\n"
    logged = await call(any_client, "variant_log", experiment_id=exp["id"], name="y", configuration=yaml_text)
    expected = {"pool": {"size": 32, "timeout": 2.5}, "features": ["a", "b"], "enabled": True}
    assert logged["variant"]["config"] == expected
    assert logged["variant"]["content_hash"] == content_hash(expected)
    same = await call(
        any_client, "variant_log", experiment_id=exp["id"], name="as-json", configuration=json.dumps(expected)
    )
    assert same["duplicate"] is True and same["variant"]["id"] == logged["variant"]["id"]
    json_text = await call(
        any_client, "variant_log", experiment_id=exp["id"], name="json-text", configuration='{"z": 1}'
    )
    assert json_text["variant"]["config"] == {"z": 1}


async def test_variant_name_taken_by_other_content_is_refused(client) -> None:
    from support.mcp import call_error

    exp = await experiment(client, (await spawn(client))["id"])
    await call(client, "variant_log", experiment_id=exp["id"], name="a", configuration=json.dumps({"x": 1}))
    message = await call_error(
        client, "variant_log", experiment_id=exp["id"], name="a", configuration=json.dumps({"x": 2})
    )
    assert "name" in message and "'a'" in message


# ---- results and comparison --------------------------------------------------------------

FIELDS = ("metric", "value", "step", "repetition")


async def test_result_log_by_id_and_by_name(any_client, any_runtime, clock) -> None:
    exp = await experiment(any_client, (await spawn(any_client))["id"])
    a = (await call(any_client, "variant_log", experiment_id=exp["id"], name="a", configuration=json.dumps({"x": 1})))[
        "variant"
    ]
    b = (await call(any_client, "variant_log", experiment_id=exp["id"], name="b", configuration=json.dumps({"x": 2})))[
        "variant"
    ]
    points = [
        {"variant": a["id"], "metric": "latency_ms", "value": 10.0 + k, "step": k, "repetition": 0} for k in range(3)
    ]
    points += [
        {"variant": "b", "metric": "latency_ms", "value": 20.5},
        {"variant": "b", "metric": "errors", "value": -1.0},
    ]
    logged = await call(any_client, "result_log", experiment_id=exp["id"], points=points, explanation="first run")
    assert logged["experiment_id"] == exp["id"]
    assert logged["points"] == 5
    assert logged["by_variant"] == {a["id"]: 3, b["id"]: 2}
    assert logged["digest"] == points_digest(
        [(a["id"] if p["variant"] == a["id"] else b["id"], *(p.get(k) for k in FIELDS)) for p in points]
    )
    stored = rows(
        any_runtime,
        "SELECT s.variant_id, s.metric, p.value, p.step, p.repetition, p.batch_id FROM measurement p "
        "JOIN result_summary s ON s.id = p.series_id ORDER BY p.batch_id, p.seq",
    )
    assert stored == [
        (a["id"], "latency_ms", 10.0, 0, 0, logged["batch_id"]),
        (a["id"], "latency_ms", 11.0, 1, 0, logged["batch_id"]),
        (a["id"], "latency_ms", 12.0, 2, 0, logged["batch_id"]),
        (b["id"], "latency_ms", 20.5, None, None, logged["batch_id"]),
        (b["id"], "errors", -1.0, None, None, logged["batch_id"]),
    ]
    assert rows(any_runtime, "SELECT point_count, digest, created_by FROM result_batch") == [
        (5, logged["digest"], AGENT)
    ]
    log = await call(any_client, "experiment_get", experiment_id=exp["id"])
    assert [v["id"] for v in log["variants"]] == [a["id"], b["id"]]
    assert log["measurements"] == sorted(
        [
            {"variant_id": a["id"], "metric": "latency_ms", "n": 3},
            {"variant_id": b["id"], "metric": "errors", "n": 1},
            {"variant_id": b["id"], "metric": "latency_ms", "n": 1},
        ],
        key=lambda m: (m["variant_id"], m["metric"]),
    )


@pytest.mark.parametrize("size", [1, 255, 256, 257, 1000, 2049])
async def test_result_log_stores_every_point_of_a_batch_as_sent(any_client, any_runtime, size) -> None:
    """Whatever the batch's size (SQLite inserts up to 256 rows per statement, then 128, 64, ... 1), every point
    is stored once, in order, as sent: absent, null and given steps and repetitions, and each point's series."""
    exp = await experiment(any_client, (await spawn(any_client))["id"])
    for name in ("a", "b"):
        await call(any_client, "variant_log", experiment_id=exp["id"], name=name, configuration=json.dumps({name: 1}))
    points = []
    for k in range(size):
        point = {"variant": "ab"[k % 2], "metric": "m" if k % 3 else "n", "value": k * 0.25 - 7.0}
        if k % 5:
            point["step"] = None if k % 5 == 1 else 2**40 + k
        if k % 4 == 3:
            point["repetition"] = k % 11
        points.append(point)
    logged = await call(any_client, "result_log", experiment_id=exp["id"], points=points)
    stored = rows(
        any_runtime,
        "SELECT v.name, s.metric, p.seq, p.value, p.step, p.repetition FROM measurement p "
        "JOIN result_summary s ON s.id = p.series_id JOIN variant v ON v.id = s.variant_id "
        "WHERE p.batch_id = :b ORDER BY p.seq",
        b=logged["batch_id"],
    )
    assert stored == [
        (p["variant"], p["metric"], k, p["value"], p.get("step"), p.get("repetition")) for k, p in enumerate(points)
    ]
    ids = {name: vid for vid, name in rows(any_runtime, "SELECT id, name FROM variant")}
    assert logged["digest"] == points_digest([(ids[p["variant"]], *(p.get(k) for k in FIELDS)) for p in points])


async def test_compare_reports_exact_statistics(any_client) -> None:
    exp = await experiment(any_client, (await spawn(any_client))["id"])
    for name, x in (("a", 1), ("b", 2), ("c", 3)):
        await call(any_client, "variant_log", experiment_id=exp["id"], name=name, configuration=json.dumps({"x": x}))
    values = {"a": [10, 11, 12, 13, 14], "b": [20, 22, 24, 26, 28]}
    points = [{"variant": v, "metric": "latency_ms", "value": float(x)} for v, xs in values.items() for x in xs]
    await call(any_client, "result_log", experiment_id=exp["id"], points=points)
    cmp = await call(any_client, "experiment_compare", experiment_id=exp["id"])
    assert (cmp["metric"], cmp["direction"], cmp["is_objective"], cmp["verdict"]) == (
        "latency_ms",
        "minimize",
        True,
        "winner",
    )
    rows_ = {r["name"]: r for r in cmp["variants"]}
    assert [r["name"] for r in cmp["variants"]] == ["a", "b", "c"]
    assert (rows_["a"]["rank"], rows_["a"]["n"], rows_["a"]["mean"], rows_["a"]["min"], rows_["a"]["max"]) == (
        1,
        5,
        12.0,
        10.0,
        14.0,
    )
    assert rows_["a"]["stddev"] == pytest.approx(1.5811388300841898)  # sqrt(2.5)
    assert rows_["b"]["stddev"] == pytest.approx(3.1622776601683795)  # sqrt(10)
    # 95% CI: mean +- t(0.975, 4) * s / sqrt(n); t(0.975, 4) = 2.7764451051977934 (scipy.stats.t.ppf)
    assert rows_["a"]["ci_low"] == pytest.approx(12.0 - 2.7764451051977934 * 1.5811388300841898 / 5**0.5, rel=1e-9)
    assert rows_["a"]["ci_high"] == pytest.approx(12.0 + 2.7764451051977934 * 1.5811388300841898 / 5**0.5, rel=1e-9)
    assert rows_["c"] == {
        "rank": None,
        "variant_id": rows_["c"]["variant_id"],
        "name": "c",
        "n": 0,
        "mean": None,
        "stddev": None,
        "min": None,
        "max": None,
        "ci_low": None,
        "ci_high": None,
    }
    assert cmp["winner"] == cmp["leader"] == rows_["a"]["variant_id"]
    assert cmp["runner_up"] == rows_["b"]["variant_id"]
