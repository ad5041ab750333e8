"""The guard: is a command an agent is about to run outside cublab allowed by the bypass policy?

- `shell`: the shell line read into simple commands;
- `commands`: what a command runs, after unwrapping sudo, env, bash -c, ... (`parse_command`);
- `tools`: the grammars of kubectl, helm, cub, terraform and aws, one `Action` per program;
- `actions`: the `Action` itself, and what earlier commands on the line carry over;
- `changes`: the changes a writing program makes, as the engine's `ChangeFacts`;
- `verdict`: the engine's answer as allow, deny or ask (`GuardDecision`), and the governed path;
- `redact`: the command as it may be stored.

All pure: files, the kubeconfig and the evidence are the use case's (app/guard.py).
"""

from cublab.domain.guard.changes import Change, Source, documents, plan_changes, unresolved_target
from cublab.domain.guard.commands import Action, Effect, ParsedCommand, Resource, parse_command
from cublab.domain.guard.redact import redact
from cublab.domain.guard.verdict import (
    EXIT_CODES,
    HUMAN_PATH,
    RANK,
    UNKNOWN_PATH,
    VARIANT_PATH,
    GuardDecision,
    GuardTarget,
    GuardVerdict,
    declare_path,
    judge_action,
    judge_decision,
    strictest,
)

__all__ = [
    "EXIT_CODES",
    "HUMAN_PATH",
    "RANK",
    "UNKNOWN_PATH",
    "VARIANT_PATH",
    "Action",
    "Change",
    "Effect",
    "GuardDecision",
    "GuardTarget",
    "GuardVerdict",
    "ParsedCommand",
    "Resource",
    "Source",
    "declare_path",
    "documents",
    "judge_action",
    "judge_decision",
    "parse_command",
    "plan_changes",
    "redact",
    "strictest",
    "unresolved_target",
]
