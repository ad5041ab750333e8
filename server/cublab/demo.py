"""`cublab demo`: a scripted agent drives a real cublab server over stdio.

It starts `cublab serve` as a subprocess and talks to it with the MCP client,
exactly as an agent host would, through the seed's workflow: spawn a sandbox,
log three variants, measure each repeatedly, compare, destroy. The measurements
come from a small, seeded latency model, so every run tells the same story.

What the server returns is printed as data (`cublab.console.line`): the demo's own words
are styled explicitly, never with markup strings holding the server's text.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from rich.table import Table

from cublab.console import data, line

VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "mem-512",
        "baseline: 512 MB, as in production",
        {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs", "resourcePrefix": "messagewall"},
    ),
    (
        "mem-1024",
        "double the memory",
        {"lambdaMemory": 1024, "lambdaTimeout": 30, "eventSource": "sqs", "resourcePrefix": "messagewall"},
    ),
    (
        "mem-2048",
        "quadruple the memory",
        {"lambdaMemory": 2048, "lambdaTimeout": 30, "eventSource": "sqs", "resourcePrefix": "messagewall"},
    ),
]


def simulated_p95_ms(memory_mb: int, rng: random.Random) -> float:
    """More memory buys CPU on Lambda: latency falls, with diminishing returns."""
    return 180.0 * (512 / memory_mb) ** 0.55 + 40.0 + rng.gauss(0, 6.0)


async def _call(client: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content[0].text}")
    return result.structured_content


TARGET_SPACE, TARGET_UNIT = "messagewall-prod", "event-handler"
CURRENT = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs", "resourcePrefix": "messagewall"}


def _seed_authority(db: str) -> int:
    """A human imports the unit the agent will propose to change (the authority is embedded)."""
    from cublab.config import Settings
    from cublab.domain.identity import human_identity
    from cublab.runtime import Runtime

    runtime = Runtime(Settings(db=db, agent="agent:cublab-demo", policy_path=None))
    try:
        result = runtime.review.import_unit(
            TARGET_SPACE,
            TARGET_UNIT,
            CURRENT,
            human_identity("human:demo-operator"),
            tier="production",
            description="demo: current production configuration",
        )
    finally:
        runtime.close()
    return result["revision"]


async def _run(db: str, emit: Callable[..., None]) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    revision = _seed_authority(db)
    emit(
        line(
            "0. a human (human:demo-operator) holds ",
            (f"{TARGET_SPACE}/{TARGET_UNIT}", "cyan"),
            f" in the embedded authority at revision {revision}",
        )
    )

    agent = f"agent:cublab-demo-{secrets.token_hex(3)}"
    # The MCP SDK hands a stdio server only HOME, PATH and the like: the audit key's settings must go with it,
    # or the server would sign with another key than the one the human's commands verify with.
    audit_env = {k: v for k, v in os.environ.items() if k.startswith("CUBLAB_AUDIT_")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "cublab", "serve", "--db", db, "--agent", agent], env=audit_env
    )
    emit(line(("cublab demo", "bold"), ": an agent (", (agent, "cyan"), ") drives `cublab serve` over stdio"))
    emit("")
    async with Client(params) as client:
        tools = await client.list_tools()
        emit(line(f"server offers {len(tools.tools)} tools: {', '.join(t.name for t in tools.tools)}"))
        emit("")

        sandbox = await _call(
            client,
            "sandbox_spawn",
            {
                "name": "lambda-memory-tuning",
                "purpose": "find the Lambda memory size with the best p95 latency",
                "ttl": "2h",
                "explanation": "demo: tune messagewall's event handler",
            },
        )
        emit(
            line(
                "1. spawned sandbox ",
                (sandbox["id"], "cyan"),
                f" (expires {sandbox['expires_at']}, labels {sandbox['labels']})",
            )
        )

        experiment = await _call(
            client,
            "experiment_create",
            {
                "sandbox_id": sandbox["id"],
                "name": "memory vs p95 latency",
                "hypothesis": "more memory lowers p95 latency of the event handler",
                "objective_metric": "p95_latency_ms",
                "direction": "minimize",
                "target_space": TARGET_SPACE,
                "target_unit": TARGET_UNIT,
            },
        )
        emit(line("   experiment ", (experiment["id"], "cyan"), f": {experiment['hypothesis']}"))

        ids = {}
        for name, description, config in VARIANTS:
            logged = await _call(
                client,
                "variant_log",
                {
                    "experiment_id": experiment["id"],
                    "name": name,
                    "description": description,
                    "configuration": json.dumps(config),
                },
            )
            ids[name] = logged["variant"]["id"]
        emit(line(f"2. logged {len(ids)} variants: {', '.join(ids)}"))

        rng = random.Random(7)
        points = [
            {
                "variant": ids[name],
                "metric": "p95_latency_ms",
                "value": round(simulated_p95_ms(config["lambdaMemory"], rng), 3),
                "repetition": rep,
            }
            for name, _, config in VARIANTS
            for rep in range(12)
        ]
        logged = await _call(
            client,
            "result_log",
            {"experiment_id": experiment["id"], "points": points, "explanation": "12 load-test runs per variant"},
        )
        emit(line(f"3. logged {logged['points']} measurements in one batch (digest {logged['digest'][:19]}…)"))

        comparison = await _call(client, "experiment_compare", {"experiment_id": experiment["id"]})
        table = Table(title=line(f"p95_latency_ms by variant ({comparison['direction']})"))
        for column in ("rank", "variant", "n", "mean", "stddev", "95% CI", "min", "max"):
            table.add_column(column, justify="right" if column not in ("variant",) else "left")
        for row in comparison["variants"]:
            table.add_row(
                str(row["rank"]),
                data(row["name"]),
                str(row["n"]),
                f"{row['mean']:.1f}",
                f"{row['stddev']:.1f}",
                f"{row['ci_low']:.1f} – {row['ci_high']:.1f}",
                f"{row['min']:.1f}",
                f"{row['max']:.1f}",
            )
        emit(table)
        emit(line("   verdict: ", (comparison["verdict"], "bold"), f": {comparison['summary']}"))

        destroyed = await _call(
            client, "sandbox_destroy", {"sandbox_id": sandbox["id"], "explanation": "experiment finished"}
        )
        emit(line(f"4. destroyed sandbox {destroyed['id']} (status {destroyed['status']})"))

        proposal = await _call(
            client,
            "variant_promote",
            {
                "variant_id": comparison["winner"] or comparison["leader"],
                "confidence": 0.9,
                "model": "scripted-demo",
                "rationale": "2048 MB cut p95 latency of the event handler by a third in 12 load-test runs per variant",
                **({} if comparison["winner"] else {"justification": "demo: the leader is promoted for review"}),
            },
        )
        emit(
            line(
                "5. proposed ",
                (proposal["id"], "cyan"),
                f": {len(proposal['patch'])} patch op(s) against revision {proposal['target']['base_revision_num']}, risk ",
                (proposal["risk"]["level"], "bold"),
                f", state {proposal['state']}",
            )
        )
        for step in proposal["risk"]["rationale"]:
            emit(line(f"     - {step}"))
        emit(line(f"   requires: {proposal['requirement']['description'].rstrip('.')}; the unit's head has not moved."))
        emit("")

    from cublab.config import default_db_path

    flag = "" if Path(db) == default_db_path() else f" --db {db}"
    decide = {"approval": "approve", "acknowledgment": "ack", "objection_window": "ack"}[
        proposal["requirement"]["kind"]
    ]
    you = _reviewer_identity()
    signed = proposal["requirement"].get("signed", False)
    sign = " --sign-with ~/.ssh/id_ed25519" if signed else ""
    emit(line(("Agents propose; humans decide.", "bold"), " To review, decide and apply it:"))
    if signed:
        emit(
            line(
                f"   decisions on {TARGET_SPACE} (tier production) are signed with your SSH key: register its public "
                "half once (no key yet? `ssh-keygen -t ed25519`)"
            )
        )
    commands = [f"cublab proposals show {proposal['id']}{flag}"]
    if signed:
        commands.append(f"cublab reviewers add {you} ~/.ssh/id_ed25519.pub --as {you}{flag}")
    commands.append(f'cublab proposals {decide} {proposal["id"]} --reason "looks right" --as {you}{sign}{flag}')
    if proposal["requirement"]["approvals_needed"] > 1:
        other_sign = " --sign-with <their-key>" if signed else ""
        if signed:
            commands.append(
                f"cublab reviewers add human:<another-name> <their-key>.pub --as human:<another-name>{flag}"
            )
        commands.append(
            f'cublab proposals approve {proposal["id"]} --reason "second approver" --as human:<another-name>{other_sign}{flag}'
        )
    commands += [
        f"cublab proposals apply {proposal['id']} --as {you}{flag}",
        f"cublab authority show {TARGET_SPACE} {TARGET_UNIT}{flag}",
    ]
    for command in commands:
        emit(line(f"  {command}"), soft_wrap=True)
    if proposal["requirement"]["approvals_needed"] > 1:
        emit(line("   (the second approver runs their commands from their own OS account, with their own key)"))
    emit("")
    emit(line("database: ", (db, "cyan")))
    emit(line(f"check the audit log:  cublab audit verify{flag}"), soft_wrap=True)
    emit(
        line(
            f"or review it in your browser:  cublab ui{flag}",
            "  (open the login URL it prints; signed tiers are decided with the CLI above)",
        ),
        soft_wrap=True,
    )


def _reviewer_identity() -> str:
    """`human:<your OS user>` as the CLI would default it, or a placeholder when that is not a valid name."""
    import getpass

    from cublab.domain.errors import CublabError
    from cublab.domain.identity import human_identity

    try:
        return human_identity(f"human:{getpass.getuser()}").value
    except (CublabError, OSError, KeyError):
        return "human:<your-name>"


def run_demo(db: str, emit: Callable[..., None]) -> None:
    """Run the demo against `db`; `emit` renders each line or table (the CLI passes `cublab.console`'s print)."""
    anyio.run(_run, db, emit)
