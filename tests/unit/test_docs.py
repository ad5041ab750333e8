"""The README stays true: every tool and every CLI command it should name, it names."""

from pathlib import Path

from typer.main import get_command

from cublab.cli import app
from cublab.mcp_server import TOOLS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_lists_every_tool_with_its_toolset() -> None:
    for spec in TOOLS:
        assert f"| `{spec.name}` | {spec.toolset} |" in README, (
            f"README's tool table lacks {spec.name} ({spec.toolset})"
        )


def test_readme_names_every_cli_command() -> None:
    group = get_command(app)
    for name, command in group.commands.items():
        assert f"cublab {name}" in README, f"README does not mention `cublab {name}`"
        for sub in getattr(command, "commands", {}):
            assert sub in README, f"README does not mention `cublab {name} {sub}`"


def test_readme_has_exactly_two_setup_commands() -> None:
    assert "pip install . && cublab demo" in README
    assert 'pip install -e ".[test]" && pytest' in README


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && pytest' in ci


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_server_snippet_is_valid_json_that_runs_cublab_serve_or_names_its_url() -> None:
    import json

    snippets = sorted(EXAMPLES.glob("*.json"))
    assert {p.name for p in snippets} >= {"claude_desktop_config.json", "claude_code.mcp.json", "vscode.mcp.json"}
    for path in snippets:
        document = json.loads(path.read_text())
        if "hooks" in document:  # a host's hook settings (cublab guard), not a server entry
            continue
        servers = document.get("mcpServers") or document.get("servers")
        assert servers and "cublab" in servers, path.name
        entry = servers["cublab"]
        assert (entry.get("command") == "cublab" and entry.get("args", [])[:1] == ["serve"]) or entry.get(
            "url", ""
        ).endswith("/mcp"), path.name
        agent = entry.get("env", {}).get("CUBLAB_AGENT") or entry.get("headers", {}).get("X-Cublab-Agent")
        bearer = entry.get("headers", {}).get("Authorization", "").startswith("Bearer ")
        assert bearer or (agent and agent.startswith("agent:")), f"{path.name}: name the agent (identity or token)"


def test_examples_readme_lists_every_example() -> None:
    listed = (EXAMPLES / "README.md").read_text()
    for path in EXAMPLES.iterdir():
        if path.suffix in (".py", ".json") and not path.name.startswith("_"):
            assert f"`{path.name}`" in listed, f"examples/README.md does not list {path.name}"
