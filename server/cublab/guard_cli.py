"""`cublab guard`: the guard on the command line, for shell wrappers, CI and Claude Code hooks.

    cublab guard -- kubectl apply -f x.yaml        # argv after --, as the shell split it
    cublab guard --command "kubectl apply -f x.yaml && helm upgrade web ./chart"
    cublab guard --hook claude-code < pretooluse.json

Exit status (plain mode): 0 allow, 1 deny, 2 ask, 3 a fault (the database or the authority
failed: the same status, and the same words, as every other cublab command), 4 bad input.
Any status but 0 means "do not run it", so `cublab guard -- CMD && CMD` is a wrapper.

`--hook claude-code` reads Claude Code's PreToolUse hook input on stdin (the Bash tool's
`tool_input.command`) and writes its hook output on stdout, exit 0: `deny` and `ask` as
`permissionDecision` with the reason (and the governed path) for Claude to read; `allow` as
no decision at all, so Claude Code's own permission rules still apply (the guard only ever
tightens them). A fault answers `ask`: a human decides, nothing runs unseen.

This module is the fast path of a process that runs before every tool call: it imports
neither typer nor rich nor the MCP SDK (`cublab.launcher` sends `cublab guard` here first).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

EXIT_FAULT = 3
EXIT_BAD_INPUT = 4


def _safe(text: str) -> str:
    """Agent-supplied text, printed as data: control characters escaped, never acted on by a terminal."""
    return "".join(c if c.isprintable() or c == "\n" else f"\\u{ord(c):04x}" for c in text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own status (2) is `ask` here
        self.print_usage(sys.stderr)
        print(f"cublab guard: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="cublab guard",
        description="May an agent run this command outside cublab? allow (0), deny (1), ask (2); 3 a fault, 4 bad input.",
    )
    p.add_argument("--command", help="the command line, as the agent's shell will read it")
    p.add_argument("--hook", choices=["claude-code"], help="read a Claude Code PreToolUse hook input on stdin")
    p.add_argument("--agent", help="the agent the guard runs for, agent:<type>-<session> [env: CUBLAB_AGENT]")
    p.add_argument("--db", help="SQLite file or SQLAlchemy URL [env: CUBLAB_DB]")
    p.add_argument("--policy", help="policy file [env: CUBLAB_POLICY]")
    p.add_argument("--incident", help="the declared incident the agent works under [env: CUBLAB_INCIDENT]")
    p.add_argument("--sandbox", help="the live cublab sandbox the agent works in, sbx_... [env: CUBLAB_SANDBOX]")
    p.add_argument("--kube-context", help="the context kubectl uses when the command names none [default: kubeconfig]")
    p.add_argument("--json", action="store_true", help="print the whole decision as JSON on stdout")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the command, as argv")
    return p


def _hook_agent(payload: dict[str, Any]) -> str | None:
    """`agent:claude-code-<session>` when neither --agent nor CUBLAB_AGENT names the agent."""
    session = re.sub(r"[^a-z0-9]", "", str(payload.get("session_id") or "").lower())[:12]
    return f"agent:claude-code-{session}" if session else "agent:claude-code-unknown"


def _decide(command: str | list[str], args: argparse.Namespace, agent: str | None, cwd: str | None) -> Any:
    from cublab.guard import check

    return check(
        command,
        agent=agent,
        db=args.db,
        policy=args.policy,
        cwd=cwd,
        incident_id=args.incident,
        sandbox_id=args.sandbox,
        kube_context=args.kube_context,
    )


def _hook(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except ValueError as exc:
        print(f"cublab guard: the hook input is not JSON ({exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not isinstance(payload, dict):
        print("cublab guard: the hook input is not a JSON object", file=sys.stderr)
        return EXIT_BAD_INPUT
    raw_input = payload.get("tool_input")
    tool_input: dict[str, Any] = raw_input if isinstance(raw_input, dict) else {}
    command = tool_input.get("command") if payload.get("tool_name") == "Bash" else None
    if not isinstance(command, str) or not command.strip():
        print("{}")  # not a shell command: no opinion
        return 0
    agent = args.agent or os.environ.get("CUBLAB_AGENT") or _hook_agent(payload)
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    decision: str | None
    try:
        answer = _decide(command, args, agent, cwd)
    except Exception as exc:
        from cublab.app.faults import classify
        from cublab.domain.errors import CublabError

        fault = classify(exc)
        why = str(fault or exc) if (fault is not None or isinstance(exc, CublabError)) else exc.__class__.__name__
        decision, reason = "ask", f"cublab guard could not decide ({_safe(why)}); a human decides instead."
    else:
        decision = None if answer.verdict == "allow" else answer.verdict
        reason = f"cublab guard: {answer.verdict}: {answer.reason}."
        if answer.governed_path:
            reason += f" Instead: {answer.governed_path}"
        reason += f" (decision {answer.decision_id}, policy {answer.policy_version[:19]})"
    if decision is None:
        print("{}")
        return 0
    output = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    }
    print(json.dumps(output))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.hook:
        return _hook(args)
    rest = list(args.argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if bool(args.command) == bool(rest):
        print('cublab guard: give the command either with --command "..." or after --', file=sys.stderr)
        return EXIT_BAD_INPUT
    command: str | list[str] = args.command if args.command else rest
    try:
        answer = _decide(command, args, args.agent, None)
    except Exception as exc:
        from cublab.app.faults import classify
        from cublab.domain.errors import CublabError

        fault = classify(exc)
        if fault is not None:
            print(f"error: {fault}", file=sys.stderr)
            return EXIT_FAULT
        if isinstance(exc, CublabError):
            print(f"cublab guard: error: {_safe(str(exc))}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
    if args.json:
        print(answer.model_dump_json(indent=2))
    lines = [f"cublab guard: {answer.verdict}: {answer.reason}"]
    if answer.criterion is not None:
        lines.append(f"  criterion {answer.criterion.number}: {answer.criterion.name}")
    if answer.governed_path:
        lines.append(f"  instead: {answer.governed_path}")
    if answer.reconciliation is not None:
        lines.append(f"  owes ({answer.reconciliation.kind}): {answer.reconciliation.text}")
    lines.append(f"  decision {answer.decision_id} (policy {answer.policy_version[:19]})")
    print(_safe("\n".join(lines)), file=sys.stderr)
    return answer.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
