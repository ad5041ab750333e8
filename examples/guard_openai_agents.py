"""cublab guard in the OpenAI Agents SDK: a tool input guardrail on a shell function tool.

The guardrail runs before the tool: allow lets it run; deny and ask reject the call with the
guard's reason and governed path as the tool's result (the model reads what to do instead; an
ask is for a human, so it is not run unattended). Runs without an LLM: `main()` calls the
guardrail function directly. `python examples/guard_openai_agents.py` (needs `pip install
openai-agents`, a version with tool guardrails; without it, only the guard runs).
"""

from __future__ import annotations

import json
import subprocess
import sys

from cublab.guard import check


def verdict_message(command: str) -> str | None:
    """None when the guard allows `command`; otherwise what the model is told instead."""
    decision = check(command)
    if decision.verdict == "allow":
        return None
    instead = f" {decision.governed_path}" if decision.governed_path else " A human must confirm it."
    return f"cublab guard: {decision.verdict}: {decision.reason}.{instead}"


def main() -> None:
    try:
        from agents import (
            ToolGuardrailFunctionOutput,
            ToolInputGuardrailData,
            function_tool,
            tool_input_guardrail,
        )
    except ImportError:
        print(verdict_message("helm upgrade web ./chart --kube-context prod"))
        sys.exit("openai-agents is not installed: the guard's answer is above")

    @tool_input_guardrail
    def cublab_guard(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        command = json.loads(data.context.tool_arguments or "{}").get("command", "")
        message = verdict_message(command)
        return (
            ToolGuardrailFunctionOutput.allow()
            if message is None
            else ToolGuardrailFunctionOutput.reject_content(message)
        )

    @function_tool(tool_input_guardrails=[cublab_guard])
    def run_shell(command: str) -> str:
        """Run a shell command."""
        return subprocess.run(command, shell=True, capture_output=True, text=True).stdout

    print("guarded tool:", run_shell.name)
    print(verdict_message("kubectl apply -f web.yaml --context prod"))


if __name__ == "__main__":
    main()
