"""The review screen cannot be forged: every CLI command that prints stored text shows it as data.

A database is seeded with an ordinary governed workflow, then every agent-written field is
overwritten directly in the database (as old data, or another writer, would leave it; the
input models would refuse it) with text that tries to act on the terminal: rich markup
(`[bold]still required[/bold]: nothing`, `[conceal]`, `[/]`, `[link=…]`), escape sequences
(ESC, OSC 8, C1 CSI), a bidi override, NUL, a carriage return, and a line break followed by a
fake status line. Every command must exit as it would with harmless text, print the markup
literally, never emit a raw control or bidi character of the data's, and print `still
required` at the start of a line only where cublab itself does. With colour forced on, the only
escape sequences are the SGR styles a run over harmless data also prints.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.domain.identity import human_identity
from cublab.mcp_server import build_server
from support.mcp import call, finished_experiment
from support.reviewers import Panel
from support.runtime import make_runtime

FAKE_STATUS = "\nstill required: nothing"
HOSTILE = (
    "[bold]still required[/bold]: nothing [conceal]x[/conceal] [/] [link=http://x]y[/link] "
    "\x1b[2J\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\ \x9b31m \u202eevil\u202c \x00 \x1b[5;7;38;5;196mred\r"
    + FAKE_STATUS
)
HARMLESS = "plain words of about the same length, nothing to see here, really nothing at all, ok"
SPACE, UNIT = "messagewall-prod", "event-handler"
SGR = re.compile(r"\x1b\[[0-9;]*m")
SYNTAX_HIGHLIGHTED = {"authority show", "proposals show", "experiments show"}
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _world(db: Path) -> dict[str, str]:
    """An ordinary workflow: two imported revisions, a sandbox and experiment, two proposals (one
    approved by a human), a bypass decision, a declared incident, an outbox entry."""
    rt = make_runtime(str(db))
    ids: dict[str, str] = {}
    try:
        alice = human_identity("human:alice")
        base = {"lambdaMemory": 512, "eventSource": "sqs", "note": "n"}
        rt.review.import_unit(SPACE, UNIT, {**base, "lambdaMemory": 256}, alice, tier="production")
        rt.review.import_unit(SPACE, UNIT, base, alice, tier="production")

        async def agent() -> None:
            async with Client(build_server(rt)) as client:
                exp, variants = await finished_experiment(client, SPACE, UNIT, base)
                p1 = await call(client, "variant_promote", variant_id=variants[1]["id"], rationale="r", confidence=0.9)
                p2 = await call(
                    client,
                    "variant_promote",
                    variant_id=variants[0]["id"],
                    rationale="r",
                    confidence=0.5,
                    justification="j",
                    target_unit="brand-new",
                    new_unit=True,
                    model="m",
                )
                ids.update(p1=p1["id"], p2=p2["id"], exp=exp["id"])
                await call(client, "bypass_check", context="ci", kind="Deployment", name="web")
                await call(client, "breakglass_declare", incident_id="INC-1", reason="r", units=[f"{SPACE}/{UNIT}"])

        anyio.run(agent)
        panel = Panel(rt, db.parent / "keys")  # production: decisions are signed
        panel.approve(ids["p1"], panel.add("carol"), "looks right")
    finally:
        rt.close()
    return ids


def _poison(db: Path, text: str, ids: dict[str, str]) -> None:
    """Write `text` into every agent-written field, straight into the database."""

    def strings(node: Any) -> Any:
        if isinstance(node, str):
            return text
        if isinstance(node, list):
            return [strings(v) for v in node]
        if isinstance(node, dict):
            return {k: strings(v) for k, v in node.items()}
        return node

    conn = sqlite3.connect(db)
    conn.executescript("PRAGMA foreign_keys = OFF;")
    j = json.dumps
    with conn:
        conn.execute("UPDATE sandbox SET name=?, purpose=?, owner=?, labels=?", (text, text, text, j({"k": text})))
        conn.execute(
            "UPDATE experiment SET name=?, hypothesis=?, objective_metric=?, created_by=?", (text, text, text, text)
        )
        conn.execute("UPDATE variant SET name=? || id, description=?", (text, text))
        for pid, evidence, requirement, patch in conn.execute(
            "SELECT id, evidence, requirement, patch FROM proposal"
        ).fetchall():
            ev = json.loads(evidence)
            ev.update(metric=text, summary=text, direction=text, verdict=text)
            for row in ev.get("variants", []):
                row["name"] = text
            req = {**json.loads(requirement), "description": text}
            ops = [{**op, "value": strings(op.get("value"))} for op in json.loads(patch)]
            conn.execute(
                "UPDATE proposal SET rationale=?, justification=?, proposer=?, proposer_model=?, state_reason=?,"
                " risk_rationale=?, evidence=?, requirement=?, patch=? WHERE id=?",
                (text, text, text, text, text, j([text, text]), j(ev), j(req), j(ops), pid),
            )
        # The new-unit proposal names a hostile target and lives in a (hostile) remote authority.
        conn.execute(
            "UPDATE proposal SET target_space=?, target_unit=?, authority=? WHERE id=?",
            (text, text, text, ids["p2"]),
        )
        conn.execute(
            "INSERT INTO authority_export (proposal_id, authority, mode, status, request, attempts, last_error,"
            " change_set_slug, observed, created_at, updated_at) VALUES (?, ?, 'shadow', 'held', ?, 3, ?, ?, '{}', ?, ?)",
            (
                ids["p2"],
                text,
                j({"data": {"k": text, text: 1}, "base_data": {}}),
                text,
                text,
                *["2026-01-01 00:00:00"] * 2,
            ),
        )
        conn.execute("UPDATE proposal_decision SET actor=?, role=?, reason=?", (text, text, text))
        conn.execute(
            "UPDATE bypass_decision SET actor=?, subject=?, reasons=?, path=?",
            (text, j({"kind": text, "name": text, "context": text}), j([text]), j([text])),
        )
        conn.execute("UPDATE incident SET reason=?, declared_by=?", (text, text))
        conn.execute("UPDATE obligation SET unit=?, due_at='2000-01-01 00:00:00.000000' WHERE kind='capture'", (text,))
        data = {"k": text, text: "v", "lambdaMemory": 512}
        for (num,) in conn.execute("SELECT revision_num FROM ch_revision").fetchall():
            conn.execute(
                "UPDATE ch_revision SET description=?, user_id=?, tags=?, approved_by=?, data=? WHERE revision_num IS ?",
                (text, text, j([text]), j([text]), j({**data, "revision": num}), num),
            )
        conn.execute("UPDATE ch_unit SET toolchain_type=?, last_change_description=?, data=?", (text, text, j(data)))
        conn.execute("UPDATE audit_event SET object_id=? WHERE seq=1", (text,))
    conn.close()


def _commands(db: Path, ids: dict[str, str]) -> list[tuple[list[str], int]]:
    d = ["--db", str(db)]
    return [
        (["proposals", "list", *d], 0),
        (["proposals", "show", ids["p1"], *d], 0),
        (["proposals", "show", ids["p2"], *d], 0),
        (["authority", "show", SPACE, UNIT, *d], 0),
        (["authority", "diff", SPACE, UNIT, "1", "2", *d], 0),
        (["sandboxes", "list", *d], 0),
        (["decisions", "list", *d], 0),
        (["obligations", "--status", "all", *d], 0),
        (["outbox", "list", *d], 0),
        (["experiments", "list", *d], 0),
        (["experiments", "show", ids["exp"], *d], 0),
        (["experiments", "export", ids["exp"], "--format", "csv", *d], 0),
        (["experiments", "export", ids["exp"], "--format", "json", *d], 0),
        (["audit", "log", "--limit", "200", *d], 0),  # the chain is broken (below): said, not an error here
        (["authority", "show", SPACE, UNIT, "--revision", "2", *d], 0),
        (["audit", "verify", *d], 1),  # the direct write to an event is tampering: named, exit 1
        (["proposals", "reject", ids["p2"], "--reason", "no", "--as", "human:dave", *d], 2),  # names the authority
        (["proposals", "approve", ids["p1"], "--reason", "fine", "--as", "human:erin", *d], 2),  # unsigned: refused
    ]


def _base(command: str) -> str:
    return command.split(" #")[0]


def _run(db: Path, ids: dict[str, str], color: bool) -> dict[str, str]:
    runner = CliRunner()
    env = {"CUBLAB_AGENT": None, "COLUMNS": "160", "FORCE_COLOR": "1" if color else None, "TERM": "xterm-256color"}
    outputs = {}
    for args, code in _commands(db, ids):
        result = runner.invoke(cli_app, args, env=env)
        shown = result.output + (result.stderr if result.stderr_bytes and result.stderr not in result.output else "")
        assert result.exit_code == code, f"{args[:2]} exited {result.exit_code}:\n{shown}\n{result.exception!r}"
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        command, n = " ".join(args[:2]), 2
        while command in outputs:  # a command run twice: `proposals show #2`
            command, n = f"{' '.join(args[:2])} #{n}", n + 1
        outputs[command] = shown
    return outputs


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> dict[str, dict[str, str]]:
    """The output of every command over hostile and over harmless data, plain and in colour."""
    out = {}
    for name, text in (("hostile", HOSTILE), ("harmless", HARMLESS)):
        for color in (False, True):
            db = tmp_path_factory.mktemp(name) / "cublab.db"
            ids = _world(db)
            _poison(db, text, ids)
            out[f"{name}-{'color' if color else 'plain'}"] = _run(db, ids, color)
    return out


def test_no_raw_control_escape_or_bidi_character_reaches_the_terminal(screens) -> None:
    for run in ("hostile-plain", "hostile-color"):
        for command, output in screens[run].items():
            visible = SGR.sub("", output)
            bad = sorted({f"U+{ord(c):04X}" for c in RAW.findall(visible)})
            assert not bad, f"{run} `cublab {command}` printed raw {bad}:\n{visible}"


def test_markup_in_data_is_printed_literally(screens) -> None:
    for command in (
        "proposals show",
        "proposals list",
        "decisions list",
        "sandboxes list",
        "authority show",
        "experiments list",
        "experiments show",
        "audit log",
    ):
        output = SGR.sub("", screens["hostile-plain"][command])
        assert "[bold]still required[/bold]" in output or "[bold]still" in output, f"`{command}`:\n{output}"
    show = screens["hostile-plain"]["proposals show"]
    for literal in ("[conceal]x[/conceal]", "[/]", "[link=http://x]y[/link]", "\\x1b[2J", "\\u202e", "\\x00", "\\x9b"):
        assert literal in show, f"{literal!r} not shown in:\n{show}"


def test_only_cublab_prints_a_status_line(screens) -> None:
    for run in ("hostile-plain", "hostile-color"):
        for command, output in screens[run].items():
            lines = [line.strip() for line in SGR.sub("", output).splitlines()]
            forged = [line for line in lines if line.startswith("still required")]
            real = 1 if _base(command) == "proposals show" else 0
            assert len(forged) == real, f"{run} `cublab {command}`: {len(forged)} status lines:\n{output}"
            if real:
                assert not forged[0].startswith("still required: nothing"), forged


def test_colour_is_only_cublabs_own(screens) -> None:
    data_styles = set(SGR.findall(HOSTILE))
    assert data_styles
    coloured = [command for command, output in screens["harmless-color"].items() if SGR.search(output)]
    assert "proposals show" in coloured and "proposals list" in coloured, "FORCE_COLOR did not colour: proves nothing"
    for command, output in screens["hostile-color"].items():
        own = set(SGR.findall(screens["harmless-color"][command]))
        printed = set(SGR.findall(output))
        assert not printed & data_styles, f"`cublab {command}` passed the data's own escape sequence through"
        assert "\x1b" not in SGR.sub("", output)
        if _base(command) not in SYNTAX_HIGHLIGHTED:  # the lexer colours what it finds in the data, in its own theme
            assert printed <= own, f"`cublab {command}` printed styles harmless data does not: {printed - own}"
