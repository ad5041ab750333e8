"""No literal secret at rest (guarantee 3): every literal, through every stored field of every tool
and every stored human input, then a scan of the bytes the database keeps.

For each shape of literal secret (generated here with a seeded RNG, a fresh one per field so a
leak names its field), one call per stored string field of every tool through an in-process MCP
client, and the human CLI inputs that are stored (reasons, the identity, an imported file, its
space, unit, tier and toolchain). Each call is otherwise valid, so a missing gate would store the
value; a refusal (by the gate, or by a field's shape) is a pass. Then the raw bytes of the SQLite
file, its -wal and its -shm (before and after a checkpoint), or every text column of every table
of the PostgreSQL schema, are scanned for each literal, its JSON-escaped form, its random core,
its base64 and its URL-encoded forms.

Where the detector (domain/secrets.py) does not flag a literal in that position at all, the case
cannot pass until the detector learns the shape. Leaks of that kind are reported as an expected
failure naming them; any other leak fails (bypass_check's decision log included: it stores
nothing derived from a flagged value, and refuses a label key that is one).
"""

from __future__ import annotations

import base64
import gc
import itertools
import json
import os
import random
import re
import shutil
import sqlite3
import string
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from mcp import Client
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.config import Settings
from cublab.domain.errors import CublabError
from cublab.domain.identity import human_identity
from cublab.domain.secrets import find_secrets, find_secrets_in_text
from cublab.mcp_server import TOOLS, build_server
from cublab.runtime import Runtime
from cublab.store.db import database_url
from support.mcp import pairs
from support.reviewers import Panel

pytestmark = pytest.mark.anyio

POSTGRES_ENV = "CUBLAB_TEST_POSTGRES_URL"
SPACE, UNIT = "messagewall-prod", "event-handler"
BASE = {"lambdaMemory": 512, "eventSource": "sqs"}
ALNUM = string.ascii_letters + string.digits


def _r(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64url(json.dumps({"sub": _r(rng, 12), "iat": 1_700_000_000}).encode())
    return f"{header}.{claims}.{_b64url(bytes(rng.randrange(256) for _ in range(32)))}"


def _pem(rng: random.Random) -> str:
    body = "\n".join(_r(rng, 64, ALNUM + "+/") for _ in range(4))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


SHAPES: dict[str, Callable[[random.Random], str]] = {
    "aws-access-key-id": lambda g: "AKIA" + _r(g, 16, string.ascii_uppercase + string.digits),
    "github-classic": lambda g: "ghp_" + _r(g, 36),
    "github-fine-grained": lambda g: "github_pat_" + _r(g, 22) + "_" + _r(g, 59),
    "slack-bot": lambda g: f"xoxb-{_r(g, 12, string.digits)}-{_r(g, 13, string.digits)}-{_r(g, 24)}",
    "stripe-live": lambda g: "sk_live_" + _r(g, 24),
    "openai-project": lambda g: "sk-proj-" + _r(g, 48, ALNUM + "_-"),
    "google-api-key": lambda g: "AIza" + _r(g, 35, ALNUM + "_-"),
    "jwt": _jwt,
    "pem-private-key": _pem,
    "postgres-url": lambda g: f"postgres://svc_{_r(g, 6, string.ascii_lowercase)}:{_r(g, 20)}@db.internal:5432/app",
    "shopify": lambda g: "shpat_" + _r(g, 32, "0123456789abcdef"),
    "huggingface": lambda g: "hf_" + _r(g, 34, string.ascii_letters),
    "high-entropy-base64": lambda g: _r(g, 40, ALNUM + "+/"),
}


def forms(literal: str) -> set[str]:
    """What a stored copy could look like: as given, JSON-escaped, its random core, base64, URL-encoded."""
    core = max(re.findall(r"[A-Za-z0-9]{16,}", literal), key=len, default=literal)
    return {
        literal,
        json.dumps(literal)[1:-1],
        core,
        base64.b64encode(literal.encode()).decode(),
        quote(literal, safe=""),
    }


# ---- where a literal goes, and whether the detector would flag it there -----------------------

TEXT, KEY, VALUE = "text", "key", "value"  # the literal's position, for the detector oracle


def flagged_in(placement: str, literal: str) -> bool:
    if placement == KEY:
        return bool(find_secrets({literal: "x"}))
    if placement == VALUE:
        return bool(find_secrets({"setting": literal}))
    return bool(find_secrets_in_text(literal))


@dataclass
class Case:
    label: str
    placement: str
    literal: str = ""


@dataclass
class Run:
    shape: str
    rng: random.Random
    cases: list[Case] = field(default_factory=list)

    def literal(self, label: str, placement: str = TEXT) -> str:
        case = Case(label, placement, SHAPES[self.shape](self.rng))
        self.cases.append(case)
        return case.literal


# ---- databases ---------------------------------------------------------------------------------


@dataclass
class Store:
    url: str
    scan: Callable[[Runtime], bytes]  # every byte the database keeps, after the run


@pytest.fixture(scope="module")
def _template(tmp_path_factory) -> Path:
    from cublab.store.db import Database

    path = tmp_path_factory.mktemp("at-rest-template") / "cublab.db"
    db = Database(str(path))
    db.migrate()
    db.dispose()
    return path


def _sqlite_bytes(path: Path, runtime: Runtime) -> bytes:
    def files() -> bytes:
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())

    before = files()  # the WAL as the writers left it, uncommitted frames included
    runtime.close()
    gc.collect()  # the CLI's runtimes
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return before + files()


def _postgres_bytes(base: str, schema: str, runtime: Runtime) -> bytes:
    runtime.close()
    engine = sa.create_engine(database_url(base))
    chunks: list[str] = []
    with engine.connect() as conn:
        columns = conn.execute(
            sa.text(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :s"
                " AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED', 'bytea')"
            ),
            {"s": schema},
        ).all()
        for table, column in columns:
            rows = conn.execute(sa.text(f'SELECT "{column}"::text FROM "{schema}"."{table}"')).scalars().all()
            chunks += [row for row in rows if row is not None]
    engine.dispose()
    return "\n".join(chunks).encode()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, _template: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        path = tmp_path / "cublab.db"
        shutil.copyfile(_template, path)
        yield Store(str(path), lambda rt: _sqlite_bytes(path, rt))
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL variant not run")
    schema = f"cublab_rest_{random.randrange(16**12):012x}"
    admin = sa.create_engine(database_url(base))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield Store(f"{base}{sep}options=-csearch_path%3D{schema}", lambda rt: _postgres_bytes(base, schema, rt))
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ---- the run -----------------------------------------------------------------------------------


def _runtime(url: str, agent: str = "agent:pytest-atrest") -> Runtime:
    return Runtime(Settings(db=url, agent=agent, policy_path=None))


_KEYED = {spec.name for spec in TOOLS if not spec.read_only}
_key_numbers = itertools.count()


def _keyed(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Mutations carry a fresh idempotency key, so what a keyed call keeps (its answer) is scanned too."""
    if tool in _KEYED and "idempotency_key" not in arguments:
        return {**arguments, "idempotency_key": f"at-rest-{next(_key_numbers)}"}
    return arguments


async def _ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, _keyed(tool, arguments))
    assert not result.is_error, f"{tool}: {result.content[0].text}"
    return result.structured_content


async def _try(client: Client, tool: str, **arguments: Any) -> None:
    """One call with a literal in one field: refused, or (if the gate misses it) stored; the scan decides."""
    result = await client.call_tool(tool, _keyed(tool, arguments))
    if result.is_error:
        assert "Traceback" not in result.content[0].text


async def _setup(client: Client, runtime: Runtime) -> dict[str, Any]:
    runtime.review.import_unit(SPACE, UNIT, BASE, human_identity("human:alice"), tier="production")
    w: dict[str, Any] = {}
    w["sbx"] = (await _ok(client, "sandbox_spawn", name="s", purpose="p", ttl="72h"))["id"]
    w["sbx2"] = (await _ok(client, "sandbox_spawn", name="s2", purpose="p", ttl="72h"))["id"]
    exp = await _ok(
        client,
        "experiment_create",
        sandbox_id=w["sbx"],
        name="e",
        hypothesis="h",
        objective_metric="p95",
        direction="minimize",
        target_space=SPACE,
        target_unit=UNIT,
    )
    w["exp"] = exp["id"]
    variants = []
    for n in range(8):  # six promotions with a literal, and two proposals for the humans to decide
        logged = await _ok(
            client,
            "variant_log",
            experiment_id=exp["id"],
            name=f"v{n}",
            configuration=json.dumps({**BASE, "lambdaMemory": 1024 + n}),
        )
        variants.append(logged["variant"]["id"])
    points = [
        {"variant": v, "metric": "p95", "value": 300.0 - 20 * n + k % 3}
        for n, v in enumerate(variants)
        for k in range(10)
    ]
    await _ok(client, "result_log", experiment_id=exp["id"], points=points)
    w["variants"] = variants
    units = [f"{SPACE}/capture-{n}" for n in range(4)]
    await _ok(client, "breakglass_declare", incident_id="INC-CAP", reason="r", units=units)
    w["capture_units"] = units
    return w


async def _tools(client: Client, run: Run, w: dict[str, Any]) -> None:
    lit = run.literal
    spawn = {"name": "n", "purpose": "p"}
    for name in ("name", "purpose", "context", "ttl", "explanation"):
        await _try(client, "sandbox_spawn", **{**spawn, name: lit(f"sandbox_spawn.{name}")})
    await _try(client, "sandbox_spawn", **spawn, labels=pairs({lit("sandbox_spawn.labels{key}"): "v"}))
    await _try(client, "sandbox_spawn", **spawn, labels=pairs({"k": lit("sandbox_spawn.labels{value}")}))
    await _try(client, "sandbox_renew", sandbox_id=w["sbx"], ttl=lit("sandbox_renew.ttl"))
    await _try(client, "sandbox_renew", sandbox_id=w["sbx"], explanation=lit("sandbox_renew.explanation"))
    await _try(client, "sandbox_destroy", sandbox_id=w["sbx2"], explanation=lit("sandbox_destroy.explanation"))

    create = {"sandbox_id": w["sbx"], "name": "e", "hypothesis": "h", "objective_metric": "m", "direction": "minimize"}
    for name in ("name", "hypothesis", "objective_metric", "target_space", "target_unit", "explanation"):
        await _try(client, "experiment_create", **{**create, name: lit(f"experiment_create.{name}")})

    for n, (label, placement) in enumerate(
        [
            ("name", TEXT),
            ("description", TEXT),
            ("explanation", TEXT),
            ("config{key}", KEY),
            ("config{value}", VALUE),
            ("config{yaml}", VALUE),
        ]
    ):
        args: dict[str, Any] = {
            "experiment_id": w["exp"],
            "name": f"c{n}",
            "configuration": json.dumps({**BASE, "case": n}),
        }
        literal = lit(f"variant_log.{label}", placement)
        if label == "config{key}":
            args["configuration"] = json.dumps({**BASE, "case": n, literal: "x"})
        elif label == "config{value}":
            args["configuration"] = json.dumps({**BASE, "case": n, "setting": literal})
        elif label == "config{yaml}":
            args["configuration"] = f"case: {n}\nsetting: {json.dumps(literal)}\n"
        else:
            args[label] = literal
        await _try(client, "variant_log", **args)

    point = {"variant": w["variants"][0], "value": 1.0}
    await _try(
        client, "result_log", experiment_id=w["exp"], points=[{**point, "metric": lit("result_log.points[].metric")}]
    )
    await _try(
        client,
        "result_log",
        experiment_id=w["exp"],
        points=[{**point, "metric": "m"}],
        explanation=lit("result_log.explanation"),
    )

    check = {"context": "ci", "kind": "Deployment", "name": "web"}
    for name in ("context", "kind", "name", "space", "namespace", "incident_id", "ttl"):
        await _try(client, "bypass_check", **{**check, name: lit(f"bypass_check.{name}")})
    await _try(client, "bypass_check", **check, labels=pairs({lit("bypass_check.labels{key}"): "v"}))
    await _try(client, "bypass_check", **check, labels=pairs({"k": lit("bypass_check.labels{value}")}))
    await _try(client, "bypass_check", **check, document=json.dumps({lit("bypass_check.document{key}", KEY): "x"}))
    await _try(
        client, "bypass_check", **check, document=json.dumps({"setting": lit("bypass_check.document{value}", VALUE)})
    )

    declare = {"reason": "r", "units": [f"{SPACE}/{UNIT}"]}
    for n, name in enumerate(("incident_id", "reason", "explanation")):
        await _try(
            client,
            "breakglass_declare",
            **{"incident_id": f"INC-{n}", **declare, name: lit(f"breakglass_declare.{name}")},
        )
    await _try(
        client,
        "breakglass_declare",
        incident_id="INC-9",
        reason="r",
        units=[f"{SPACE}/{lit('breakglass_declare.units[]')}"],
    )

    units = w["capture_units"]
    capture = {"incident_id": "INC-CAP", "live_state": json.dumps({**BASE, "captured": True})}
    await _try(
        client, "breakglass_capture", **capture, unit=units[0], explanation=lit("breakglass_capture.explanation")
    )
    await _try(
        client,
        "breakglass_capture",
        incident_id="INC-CAP",
        unit=units[1],
        live_state=json.dumps({**BASE, lit("breakglass_capture.live_state{key}", KEY): 1}),
    )
    await _try(
        client,
        "breakglass_capture",
        incident_id="INC-CAP",
        unit=units[2],
        live_state=json.dumps({**BASE, "setting": lit("breakglass_capture.live_state{value}", VALUE)}),
    )
    literal = lit("breakglass_capture.live_state{yaml}", VALUE)
    await _try(
        client,
        "breakglass_capture",
        incident_id="INC-CAP",
        unit=units[3],
        live_state=f"setting: {json.dumps(literal)}\n",
    )
    live = {"live_state": json.dumps({**BASE, "captured": True})}
    await _try(client, "breakglass_capture", **live, unit=units[0], incident_id=lit("breakglass_capture.incident_id"))
    await _try(
        client, "breakglass_capture", **live, incident_id="INC-CAP", unit=f"{SPACE}/{lit('breakglass_capture.unit')}"
    )


async def _promotions(client: Client, run: Run, w: dict[str, Any]) -> None:
    lit = run.literal
    base = {"rationale": "r", "confidence": 0.5, "justification": "not the winner: on purpose"}
    cases = [
        {"rationale": lit("variant_promote.rationale")},
        {"justification": lit("variant_promote.justification")},
        {"model": lit("variant_promote.model")},
        {"explanation": lit("variant_promote.explanation")},
        {"target_space": lit("variant_promote.target_space")},
        {"target_unit": lit("variant_promote.target_unit"), "new_unit": True},
    ]
    for variant, case in zip(w["variants"], cases, strict=False):
        await _try(client, "variant_promote", variant_id=variant, **{**base, **case})


async def _humans(runtime: Runtime, url: str, run: Run, w: dict[str, Any], client: Client) -> None:
    """The CLI's stored inputs: reasons, the deciding identity, an imported file and its names."""
    lit = run.literal
    decide = await _ok(
        client, "variant_promote", variant_id=w["variants"][6], rationale="r", confidence=0.5, justification="j"
    )
    applied = await _ok(client, "variant_promote", variant_id=w["variants"][7], rationale="r", confidence=0.9)
    panel = Panel(runtime, Path(tempfile.mkdtemp(prefix="at-rest-keys-")))  # production: signed decisions
    for name in ("alice", "bob"):
        if runtime.proposals.document(applied["id"]).proposal.state == "pending":
            panel.approve(applied["id"], panel.add(name), "fine")
    assert runtime.proposals.document(applied["id"]).proposal.state == "approved"

    runner = CliRunner()
    env = {"CUBLAB_AGENT": "", "USER": "pytest-human"}

    def cli(*args: str) -> None:
        result = runner.invoke(cli_app, [*args, "--db", url], env=env)
        assert result.exit_code in (0, 1, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)

    for action in ("approve", "ack", "reject"):
        cli("proposals", action, decide["id"], "--reason", lit(f"cli.proposals {action} --reason"))
    cli("proposals", "ack", decide["id"], "--reason", "ok", "--as", f"human:{lit('cli --as')}")
    cli("proposals", "apply", applied["id"], "--reason", lit("cli.proposals apply --reason"))

    folder = Path(tempfile.mkdtemp(prefix="at-rest-"))
    plain = folder / "unit.json"
    plain.write_text(json.dumps({"a": 1}))
    key_file = folder / "key.json"
    key_file.write_text(json.dumps({lit("cli.authority import FILE{key}", KEY): 1}))
    value_file = folder / "value.json"
    value_file.write_text(json.dumps({"setting": lit("cli.authority import FILE{value}", VALUE)}))
    for n, path in enumerate((key_file, value_file)):
        cli("authority", "import", str(path), "--space", SPACE, "--unit", f"imported-{n}")
    for n, option in enumerate(("--space", "--unit", "--tier", "--toolchain")):
        args = {"--space": SPACE, "--unit": f"opt-{n}"}
        args[option] = lit(f"cli.authority import {option}")
        cli("authority", "import", str(plain), *[x for pair in args.items() for x in pair])
    literal = lit("cli.authority import FILE (its name)")
    if "/" not in literal and "\n" not in literal:
        named = folder / f"{literal}.json"
        named.write_text(json.dumps({"a": 2}))
        cli("authority", "import", str(named), "--space", SPACE, "--unit", "named")
    shutil.rmtree(folder)


async def _keys(client: Client, run: Run, w: dict[str, Any]) -> None:
    """An idempotency key is kept as a digest only; the answer kept with it is built from what was stored.
    (Drawn last: a new draw earlier would change every later field's literal.)"""
    spawn = {"name": "n", "purpose": "p"}
    await _try(client, "sandbox_spawn", **spawn, idempotency_key=run.literal("sandbox_spawn.idempotency_key"))
    await _try(
        client, "sandbox_renew", sandbox_id=w["sbx"], idempotency_key=run.literal("sandbox_renew.idempotency_key")
    )


async def _identity(url: str, run: Run) -> None:
    """The identity every row names: an agent's `CUBLAB_AGENT` or `X-Cublab-Agent` that is a secret."""
    literal = run.literal("identity (CUBLAB_AGENT, X-Cublab-Agent)")
    try:
        runtime = _runtime(url, agent=f"agent:claude-{literal}")
    except CublabError:
        return  # refused by the identity's shape
    try:
        async with Client(build_server(runtime)) as client:
            await _try(client, "sandbox_spawn", name="n", purpose="p")
    finally:
        runtime.close()


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_no_literal_reaches_the_database(store: Store, shape: str) -> None:
    run = Run(shape, random.Random(f"cublab-at-rest-{shape}"))
    runtime = _runtime(store.url)
    async with Client(build_server(runtime)) as client:
        w = await _setup(client, runtime)
        await _tools(client, run, w)
        await _promotions(client, run, w)
        await _humans(runtime, store.url, run, w, client)
        await _keys(client, run, w)
    await _identity(store.url, run)
    stored = store.scan(runtime)

    leaks = sorted(case.label for case in run.cases if any(form.encode() in stored for form in forms(case.literal)))
    assert not leaks, f"{shape}: literal secrets at rest from {leaks}"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_detector_flags_the_common_shapes_as_text_and_as_values(shape: str) -> None:
    """Every shape is flagged wherever it stands: as text, as a value and as a key."""
    literal = SHAPES[shape](random.Random(f"cublab-oracle-{shape}"))
    assert flagged_in(TEXT, literal) and flagged_in(VALUE, literal) and flagged_in(KEY, literal)
