"""cublab guard in LangGraph: a shell node that pauses the graph (`interrupt`) when the guard says ask.

deny returns the reason and the governed path as the node's result (for the model to read); ask
interrupts the run until a human resumes it with `Command(resume=True)` or `Command(resume=False)`;
allow runs the command. On resume LangGraph runs the node again from its start, so the guard is
asked (and the decision log written) once more. Runs without an LLM: the graph has one node, given the command to run.
`python examples/guard_langgraph.py ["COMMAND"]` (needs `pip install langgraph`).
"""

import subprocess
import sys
from typing import TypedDict

from cublab.guard import check

try:
    from langgraph.checkpoint.memory import MemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt
except ImportError:
    sys.exit("langgraph is not installed: pip install langgraph")


class State(TypedDict, total=False):
    command: str
    result: str


def shell(state: State) -> State:
    command = state["command"]
    decision = check(command)
    if decision.verdict == "deny":
        return {"result": f"refused by cublab: {decision.reason}. {decision.governed_path}"}
    if decision.verdict == "ask" and not interrupt({"command": command, "reason": decision.reason}):
        return {"result": f"a human declined: {decision.reason}"}
    return {"result": subprocess.run(command, shell=True, capture_output=True, text=True).stdout}


def main() -> None:
    graph = StateGraph(State)
    graph.add_node("shell", shell)
    graph.add_edge(START, "shell")
    graph.add_edge("shell", END)
    app = graph.compile(checkpointer=MemorySaver())
    commands = sys.argv[1:] or [
        "echo hello from an allowed command",
        "kubectl rollout restart deploy/web --context prod",
    ]
    for n, command in enumerate(commands):
        config = {"configurable": {"thread_id": f"guard-demo-{n}"}}
        out = app.invoke({"command": command}, config)
        if "__interrupt__" in out:  # ask: a human decides, then the run resumes
            print("paused for a human:", out["__interrupt__"][0].value)
            out = app.invoke(Command(resume=False), config)
        print(f"{command!r} -> {out['result'].strip()}")


if __name__ == "__main__":
    main()
