"""`cublab.guard.check(command)`: the guard as a Python function, for agent frameworks.

A framework that gives its agent a shell (a LangGraph tool node, an OpenAI Agents function
tool, a pydantic-ai tool) calls `check` before running a command and acts on the answer:
`allow` runs it, `deny` returns `decision.reason` and `decision.governed_path` to the agent,
`ask` pauses for a human (a LangGraph `interrupt`, pydantic-ai's `ApprovalRequired`, an
OpenAI Agents guardrail tripwire). examples/guard_*.py show each.

The guard runs as the agent: `agent=` or `CUBLAB_AGENT` names it, and every answer is
written to the decision log under that identity. The first call opens cublab's database
(`db=` or `CUBLAB_DB`); later calls with the same settings reuse it, so a decision costs
well under a millisecond more than the engine itself (bench/guard.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cublab.domain.guard import GuardDecision

if TYPE_CHECKING:
    from cublab.runtime import Runtime

__all__ = ["GuardDecision", "check", "close"]

_runtimes: dict[tuple[str | None, str | None, str | None], Runtime] = {}
_lock = threading.Lock()


def _runtime(agent: str | None, db: str | None, policy: str | None) -> Runtime:
    with _lock:
        key = (agent, db, policy)
        if key not in _runtimes:
            from cublab.config import Settings
            from cublab.runtime import Runtime

            _runtimes[key] = Runtime(Settings.resolve(db=db, agent=agent, policy=policy))
        return _runtimes[key]


def check(
    command: str | Sequence[str],
    *,
    agent: str | None = None,
    db: str | None = None,
    policy: str | None = None,
    cwd: str | None = None,
    files: Mapping[str, str] | None = None,
    incident_id: str | None = None,
    sandbox_id: str | None = None,
    kube_context: str | None = None,
) -> GuardDecision:
    """May the agent run `command` (a shell line, or an argv list)? Allow, deny (with the governed path) or ask.

    `files` maps a path the command names (`-f x.yaml`) to its text, when the caller has it; otherwise the
    guard reads the files relative to `cwd`. `incident_id` and `sandbox_id` name the declared incident or
    the live sandbox the agent works under (checked by cublab, never taken on trust). `kube_context` is the
    context kubectl will use when the command names none (default: the kubeconfig's current-context).
    Raises `cublab.domain.errors.InvalidInput` for bad input; a database fault propagates.
    """
    import os

    runtime = _runtime(agent or os.environ.get("CUBLAB_AGENT"), db, policy)
    return runtime.guard.check(
        command,
        runtime.agent,
        cwd=cwd,
        files=files,
        incident_id=incident_id or os.environ.get("CUBLAB_INCIDENT") or None,
        sandbox_id=sandbox_id or os.environ.get("CUBLAB_SANDBOX") or None,
        kube_context=kube_context,
    )


def close() -> None:
    """Release the databases `check` opened (tests, long-lived processes that are done)."""
    with _lock:
        for runtime in _runtimes.values():
            runtime.close()
        _runtimes.clear()
