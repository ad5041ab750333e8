"""The terminal reviewer's reach, through the real `cublab` process: experiments listed, shown and exported,
the audit log filtered and verified, and the humans behind each revision; ids whole in every table when piped.

The data is made as agents and reviewers make it: an MCP client for the agent, the use cases for the humans.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from cublab.app.export import export_csv
from cublab.app.read_models import ExperimentExport
from cublab.domain.identity import human_identity
from cublab.mcp_server import build_server
from support.mcp import call, finished_experiment
from support.runtime import AGENT, environ_without_settings, make_runtime

SPACE, UNIT = "mw-staging", "handler"
BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs"}
ID = re.compile(r"\b(?:exp|prp|sbx|var|dec|obl)_[0-9a-z]{26}\b")


def cublab(db: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**environ_without_settings(), "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "cublab", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def ok(db: Path, *args: str, columns: int = 80) -> str:
    result = cublab(db, *args, columns=columns)
    assert result.returncode == 0, f"cublab {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """An applied experiment (acknowledged by alice, applied by carol), a running one, and a bypass decision."""
    db = tmp_path_factory.mktemp("review") / "cublab.db"
    rt = make_runtime(str(db))
    ids: dict = {"db": db}
    try:
        rt.review.import_unit(SPACE, UNIT, BASE, human_identity("human:alice"), tier="staging")

        async def agent() -> None:
            async with Client(build_server(rt)) as client:
                exp, variants = await finished_experiment(client, SPACE, UNIT, BASE)
                proposal = await call(
                    client, "variant_promote", variant_id=variants[1]["id"], rationale="faster", confidence=0.8
                )
                sandbox = await call(client, "sandbox_spawn", name="next", purpose="p", ttl="2h")
                running = await call(
                    client,
                    "experiment_create",
                    sandbox_id=sandbox["id"],
                    name="timeouts",
                    hypothesis="shorter timeouts fail faster",
                    objective_metric="errors",
                    direction="minimize",
                    target_space="other",
                    target_unit="unit",
                )
                await call(client, "bypass_check", context="ci", kind="Deployment", name="web")
                ids.update(
                    exp=exp["id"],
                    variants=[v["id"] for v in variants],
                    proposal=proposal["id"],
                    running=running["id"],
                    sandbox=sandbox["id"],
                )

        anyio.run(agent)
        rt.review.acknowledge(ids["proposal"], human_identity("human:alice"), "fine by me")
        assert rt.review.apply(ids["proposal"], human_identity("human:carol"), "rolling out").applied
        ids["export"] = rt.experiment_reads.export(ids["exp"])
    finally:
        rt.close()
    return ids


def test_experiments_list_filters_and_prints_whole_ids(world) -> None:
    db = world["db"]
    listed = ok(db, "experiments", "list", columns=40)  # piped: whole ids whatever the terminal's width
    for wanted in (world["exp"], world["running"], world["proposal"]):
        assert wanted in listed, f"{wanted} not whole in:\n{listed}"
    assert "1-2 of 2" in listed
    applied = ok(db, "experiments", "list", "--state", "applied")
    assert world["exp"] in applied and world["running"] not in applied
    other = ok(db, "experiments", "list", "--space", "other", "--agent", AGENT)
    assert world["running"] in other and world["exp"] not in other
    paged = ok(db, "experiments", "list", "--limit", "1")
    assert "1-1 of 2; next page: --offset 1" in paged and world["running"] in paged
    bad = cublab(db, "experiments", "list", "--state", "winning")
    assert bad.returncode == 2 and "--state" in bad.stderr and "Traceback" not in bad.stderr


def test_experiments_show_has_hypothesis_configs_comparison_batches_and_proposal(world) -> None:
    shown = ok(world["db"], "experiments", "show", world["exp"])
    assert "more memory is faster" in shown and "state applied" in shown
    for vid in world["variants"]:
        assert vid in shown
    assert "lambdaMemory: 1024" in shown and "lambdaMemory: 2048" in shown  # every variant's configuration
    assert "verdict winner" in shown and "<- winner" in shown
    export: ExperimentExport = world["export"]
    assert f"{export.comparisons[0].variants[0].mean:.4g}" in shown
    assert re.search(r"sha256:[0-9a-f]{64}", shown), "the batch digest, whole"
    assert world["proposal"] in shown and "result batches (1 newest of 1)" in shown
    missing = cublab(world["db"], "experiments", "show", "exp_" + "0" * 26)
    assert missing.returncode == 2 and "no experiment" in missing.stderr


def test_experiments_export_json_round_trips_and_csv_matches_the_use_case(world, tmp_path) -> None:
    db, export = world["db"], world["export"]
    text = ok(db, "experiments", "export", world["exp"], "--format", "json")
    assert ExperimentExport.model_validate(json.loads(text)) == export
    target = tmp_path / "out.csv"
    result = cublab(db, "experiments", "export", world["exp"], "--format", "csv", "--output", str(target))
    assert result.returncode == 0 and result.stdout == "" and str(target) in result.stderr
    assert target.read_bytes().decode("utf-8") == export_csv(export)
    wrong = cublab(db, "experiments", "export", world["exp"], "--format", "xml")
    assert wrong.returncode == 2 and "--format" in wrong.stderr


def test_audit_log_filters_and_reports_the_chain(world) -> None:
    db = world["db"]
    carol = ok(db, "audit", "log", "--actor", "human:carol")
    assert "proposal.apply" in carol and "proposal.acknowledge" not in carol
    assert "chain: verifies" in carol
    about = ok(db, "audit", "log", "--object", f"proposal/{world['proposal']}")
    assert [a for a in ("proposal.create", "proposal.acknowledge", "proposal.apply") if a in about] == [
        "proposal.create",
        "proposal.acknowledge",
        "proposal.apply",
    ]
    assert "variant.log" not in about
    unit = ok(db, "audit", "log", "--object", f"unit/{SPACE}/{UNIT}")  # an id holding a slash: split at the first
    assert "authority.import" in unit and "proposal." not in unit
    prefixed = ok(db, "audit", "log", "--action", "sandbox.", "--since", "1h")
    assert "sandbox.spawn" in prefixed and "proposal." not in prefixed
    assert "sandbox." not in ok(db, "audit", "log", "--action", "sandbox.", "--until", "2000-01-01")
    page = ok(db, "audit", "log", "--limit", "2", "--no-verify")
    assert "older events: --before" in page and "chain:" not in page
    for args, field in ((("--since", "last week"), "--since"), (("--limit", "500"), "--limit")):
        bad = cublab(db, "audit", "log", *args)
        assert bad.returncode == 2 and field in bad.stderr


def test_audit_log_names_the_first_broken_event(world, tmp_path) -> None:
    import shutil
    import sqlite3

    db = tmp_path / "copy.db"  # a copy has no witness of its own either: that problem names no event
    shutil.copyfile(world["db"], db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_event SET explanation = 'nothing happened' WHERE seq = 3")
    shown = ok(db, "audit", "log", "--limit", "200")
    assert "first broken event: 3" in shown and "chain: BROKEN" in shown
    rows = [line for line in shown.splitlines() if line.startswith("│ 3 ")]
    assert rows and rows[0].rstrip(" │").endswith("NO"), rows


def test_authority_show_names_the_humans_who_approved_and_applied(world) -> None:
    db = world["db"]
    history = ok(db, "authority", "show", SPACE, UNIT)
    row = next(line for line in history.splitlines() if line.startswith("│ 2 "))
    assert AGENT in row and "human:alice" in row and "human:carol" in row and world["proposal"] in row
    one = ok(db, "authority", "show", SPACE, UNIT, "--revision", "2")
    assert "approved by: human:alice" in one and "applied by:  human:carol" in one
    assert f"proposed by: {AGENT} (proposal {world['proposal']})" in one
    assert "lambdaMemory: 2048" in one and "fine by me" in one and "rolling out" in one
    missing = cublab(db, "authority", "show", SPACE, UNIT, "--revision", "9")
    assert missing.returncode == 2 and "revision" in missing.stderr


def test_every_listing_prints_whole_ids_when_piped(world) -> None:
    db = world["db"]
    for args in (
        ("proposals", "list"),
        ("sandboxes", "list"),
        ("decisions", "list"),
        ("experiments", "list"),
        ("audit", "log", "--no-verify"),
    ):
        out = ok(db, *args, columns=40)
        assert ID.search(out), f"no whole id in `cublab {' '.join(args)}`:\n{out}"
        assert "…" not in out, f"`cublab {' '.join(args)}` cut something:\n{out}"
