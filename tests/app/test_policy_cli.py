"""The policy as data, from the operator's side: `cublab policy show|check`, a bad file
refused with the key named, and an operator's own limits honoured.
(`cublab serve` refusing a bad file at start-up: e2e/test_policy_serve.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mcp import Client
from typer.testing import CliRunner

from cublab.cli import app as cli_app
from cublab.config import Settings
from cublab.mcp_server import build_server
from cublab.policies import load_policy
from cublab.runtime import Runtime
from support.mcp import call, call_error
from support.policy_files import DEFAULT, misspelt, without_criterion_8, write
from support.runtime import AGENT


def test_policy_show_prints_the_version_hash_and_every_criterion() -> None:
    result = CliRunner().invoke(cli_app, ["policy", "show"], env={"CUBLAB_POLICY": ""})
    assert result.exit_code == 0, result.output
    digest = load_policy().digest
    assert digest in result.stdout and digest.startswith("sha256:")
    for criterion in load_policy().policy.bypass.criteria:
        assert criterion.name in result.stdout
    assert "capture_within" in result.stdout and "review_within" in result.stdout


def test_policy_show_of_an_operator_file_prints_its_hash(tmp_path) -> None:
    path = write(tmp_path, "ops.yaml", DEFAULT.replace('version: "seed-1"', 'version: "ops-2"'))
    result = CliRunner().invoke(cli_app, ["policy", "show", "--policy", path])
    assert result.exit_code == 0, result.output
    assert load_policy(path).digest in result.stdout and load_policy().digest not in result.stdout
    assert "ops-2" in result.stdout


def test_policy_check_passes_on_the_default_file(tmp_path) -> None:
    path = write(tmp_path, "default.yaml", DEFAULT)
    result = CliRunner().invoke(cli_app, ["policy", "check", path])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout and load_policy().digest in result.stdout


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (misspelt, ["capture_withn"]),
        (without_criterion_8, ["criteria", "8"]),
        (lambda tmp: write(tmp, "broken.yaml", "bypass: [unclosed"), ["not valid YAML"]),
        (lambda tmp: str(tmp / "missing.yaml"), ["cannot read"]),
    ],
)
def test_policy_check_fails_naming_the_key(tmp_path, make, names) -> None:
    path = make(tmp_path)
    result = CliRunner().invoke(cli_app, ["policy", "check", path])
    assert result.exit_code != 0
    for name in names:
        assert name in result.stderr, result.output
    assert "Traceback" not in result.output


@pytest.mark.anyio
async def test_operator_policy_limits_are_honoured_by_sandbox_spawn(tmp_path, sqlite_url) -> None:
    text = DEFAULT.replace("  default_ttl: 24h\n  max_ttl: 72h", "  default_ttl: 2h\n  max_ttl: 4h")
    assert text != DEFAULT
    path = write(tmp_path, "short.yaml", text)
    runtime = Runtime(Settings(db=sqlite_url, agent=AGENT, policy_path=path))
    try:
        async with Client(build_server(runtime)) as client:
            message = await call_error(client, "sandbox_spawn", name="long", purpose="p", ttl="5h")
            assert "ttl" in message and "4h" in message
            ok = await call(client, "sandbox_spawn", name="short", purpose="p", ttl="4h")
            assert ok["ttl"] == "4h"
            default = await call(client, "sandbox_spawn", name="default", purpose="p")
            assert default["ttl"] == "2h"
            answer = await call(client, "bypass_check", context="kind-dev", kind="Deployment")
            assert answer["policy_version"] == load_policy(path).digest != load_policy().digest
    finally:
        runtime.close()


def test_a_sandbox_may_not_outlive_ephemeral(tmp_path) -> None:

    import cublab.policies

    data = yaml.safe_load((Path(cublab.policies.__file__).parent / "default.yaml").read_text())
    data["sandbox"]["max_ttl"] = "96h"
    bad = tmp_path / "long.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli_app, ["policy", "check", str(bad)])
    assert result.exit_code == 2
    assert "sandbox.max_ttl must not exceed bypass.ephemeral.max_ttl" in result.output
