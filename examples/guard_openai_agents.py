"""cublab guard in the OpenAI Agents SDK: a tool input guardrail on a shell function tool.

The guardrail runs before the tool: allow lets it run; deny and ask reject the call, and the model
reads the guard's reason and governed path as the tool's result (an ask is a human's to confirm,
so it is never run unattended). Runs without an LLM: `main()` puts two tool calls to the guardrail
as the Runner would. `python examples/guard_openai_agents.py` (needs `pip install openai-agents`,
a version with tool guardrails).
"""

import json
import subprocess
import sys
from types import SimpleNamespace

from cublab.guard import check

try:
    from agents import ToolGuardrailFunctionOutput, ToolInputGuardrailData, function_tool, tool_input_guardrail
except ImportError:
    sys.exit("openai-agents is not installed: pip install openai-agents")


@tool_input_guardrail
def cublab_guard(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
    command = json.loads(data.context.tool_arguments or "{}").get("command", "")
    decision = check(command)
    if decision.verdict == "allow":
        return ToolGuardrailFunctionOutput.allow()
    instead = decision.governed_path or "A human must confirm it; it was not run."
    return ToolGuardrailFunctionOutput.reject_content(f"cublab guard: {decision.verdict}: {decision.reason}. {instead}")


@function_tool(tool_input_guardrails=[cublab_guard])
def run_shell(command: str) -> str:
    """Run a shell command (guarded by cublab)."""
    return subprocess.run(command, shell=True, capture_output=True, text=True).stdout


def main() -> None:
    for command in ("echo hello", "kubectl apply -f web.yaml --context prod"):
        call = SimpleNamespace(context=SimpleNamespace(tool_arguments=json.dumps({"command": command})))
        output = cublab_guard.guardrail_function(call)
        print(f"{command!r} -> {output.behavior}")


if __name__ == "__main__":
    main()
