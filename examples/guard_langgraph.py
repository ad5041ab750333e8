"""cublab guard in LangGraph: a shell tool that pauses the graph (`interrupt`) when the guard says ask.

deny returns the reason and the governed path to the model as the tool's result; ask interrupts the
run until a human resumes it with `Command(resume=True|False)`; allow runs the command. Runs without
an LLM: the graph has one node that calls the tool with a fixed command.
`python examples/guard_langgraph.py` (needs `pip install langgraph`; without it, only the guard runs).
"""

from __future__ import annotations

import shlex
import subprocess
import sys

from cublab.guard import check


def guarded_shell(command: str, approve) -> str:
    """Run `command` if the guard allows it; `approve(payload)` asks a human when it says ask."""
    decision = check(command)
    if decision.verdict == "deny":
        return f"refused by cublab: {decision.reason}. {decision.governed_path}"
    if decision.verdict == "ask" and not approve({"command": command, "reason": decision.reason}):
        return f"a human declined: {decision.reason}"
    return subprocess.run(shlex.split(command), capture_output=True, text=True).stdout


def main() -> None:
    try:
        from langgraph.checkpoint.memory import MemorySaver
        from langgraph.graph import END, START, StateGraph
        from langgraph.types import Command, interrupt
    except ImportError:
        print(check("kubectl apply -f web.yaml --context prod").model_dump_json(indent=2))
        sys.exit("langgraph is not installed: the guard's answer is above")

    def node(state: dict) -> dict:
        return {"result": guarded_shell(state["command"], approve=interrupt)}

    graph = StateGraph(dict)
    graph.add_node("shell", node)
    graph.add_edge(START, "shell")
    graph.add_edge("shell", END)
    app = graph.compile(checkpointer=MemorySaver())
    config = {"configurable": {"thread_id": "guard-demo"}}
    out = app.invoke({"command": "kubectl rollout restart deploy/web --context prod"}, config)
    if "__interrupt__" in out:  # ask: a human decides, then the run resumes
        print("paused for a human:", out["__interrupt__"][0].value)
        out = app.invoke(Command(resume=False), config)
    print(out["result"])


if __name__ == "__main__":
    main()
