"""cublab guard in pydantic-ai: a shell tool that needs approval when the guard says ask.

allow runs the command; deny raises `ModelRetry` with the reason and the governed path (the model
tries the governed way); ask raises `ApprovalRequired`, so the run ends with a
`DeferredToolRequests` for a human, and resumes with `DeferredToolResults`. Runs without an LLM:
`main()` calls the tool function with a stand-in context. `python examples/guard_pydantic_ai.py`
(needs `pip install pydantic-ai`; without it, only the guard runs).
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from cublab.guard import check


def main() -> None:
    try:
        from pydantic_ai import Agent, ApprovalRequired, DeferredToolRequests, ModelRetry, RunContext
    except ImportError:
        print(check("kubectl delete ns shop --context prod").model_dump_json(indent=2))
        sys.exit("pydantic-ai is not installed: the guard's answer is above")

    agent = Agent("test", output_type=[str, DeferredToolRequests])

    @agent.tool
    def run_shell(ctx: RunContext[None], command: str) -> str:
        """Run a shell command."""
        decision = check(command)
        if decision.verdict == "deny":
            raise ModelRetry(f"{decision.reason}. {decision.governed_path}")
        if decision.verdict == "ask" and not ctx.tool_call_approved:
            raise ApprovalRequired
        return subprocess.run(command, shell=True, capture_output=True, text=True).stdout

    stand_in = SimpleNamespace(tool_call_approved=False)
    for command in ("kubectl get pods", "kubectl delete ns shop --context prod"):
        try:
            print(command, "->", run_shell(stand_in, command)[:60] or "(ran)")  # type: ignore[arg-type]
        except (ModelRetry, ApprovalRequired) as exc:
            print(command, "->", type(exc).__name__, exc)


if __name__ == "__main__":
    main()
