"""cublab guard in pydantic-ai: a shell tool that needs a human's approval when the guard says ask.

allow runs the command; deny raises `ModelRetry` with the reason and the governed path (the model
is told to take the governed way); ask raises `ApprovalRequired`, so the run ends with
`DeferredToolRequests` for a human and resumes with `DeferredToolResults`. Runs without an LLM: a
`FunctionModel` plays the model, calling the tool once and reporting what it was told.
`python examples/guard_pydantic_ai.py ["COMMAND"]` (needs `pip install pydantic-ai-slim`).
"""

import subprocess
import sys

from cublab.guard import check

try:
    from pydantic_ai import Agent, ApprovalRequired, DeferredToolRequests, ModelRetry, RunContext
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
except ImportError:
    sys.exit("pydantic-ai is not installed: pip install pydantic-ai-slim")

COMMAND = sys.argv[1] if len(sys.argv) > 1 else "kubectl delete ns shop --context prod"


def scripted_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Stands in for an LLM: call run_shell once, then repeat what the tool (or the guard) said."""
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart("run_shell", {"command": COMMAND})])
    return ModelResponse(parts=[TextPart(str(getattr(messages[-1].parts[0], "content", "")))])


agent = Agent(FunctionModel(scripted_model), output_type=[str, DeferredToolRequests])


@agent.tool
def run_shell(ctx: RunContext[None], command: str) -> str:
    """Run a shell command (guarded by cublab)."""
    decision = check(command)
    if decision.verdict == "deny":
        raise ModelRetry(f"cublab guard: {decision.reason}. {decision.governed_path}")
    if decision.verdict == "ask" and not ctx.tool_call_approved:
        raise ApprovalRequired  # the run ends with DeferredToolRequests: a human decides
    return subprocess.run(command, shell=True, capture_output=True, text=True).stdout


if __name__ == "__main__":
    result = agent.run_sync("Do what the operator asked.")
    if isinstance(result.output, DeferredToolRequests):
        print("waiting for a human:", [call.args for call in result.output.approvals])
    else:
        print(result.output)
