"""What the guard knows about one program a command runs: the `Action`, and what the line carries over.

Shared by the unwrapping (commands.py) and the tools' grammars (tools.py); pure data.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["read", "local", "write", "authority_write", "human_only", "unknown", "outside"]
FileRole = Literal["manifest", "values", "opaque"]
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str = ""


@dataclass(frozen=True)
class Action:
    """One program the command runs, and what it does."""

    tool: str
    verb: str
    effect: Effect
    why: str = ""  # for read, local, unknown, human_only, outside: the sentence the answer gives
    context: str | None = None  # kube context, aws profile or endpoint, terraform workspace; None: not named
    context_source: str | None = None  # where `context` came from, or why it is missing
    namespace: str | None = None
    space: str | None = None
    unit: str | None = None
    resources: tuple[Resource, ...] = ()
    files: tuple[tuple[str, FileRole], ...] = ()  # paths named with -f (or as the tool takes them); "-" is stdin
    stdin: str | None = None  # the text fed to the command, when the line says what it is
    stdin_file: str | None = None
    document: dict[str, Any] | None = None  # what the command itself says the change is (a patch, a scale...)
    argv: tuple[str, ...] = ()
    cwd: str | None = None  # where an earlier `cd` on the line moved to (files are read from there)


@dataclass
class Chain:
    """What earlier commands on the line changed for later ones."""

    kube_context: str | None = None
    kube_context_source: str | None = None
    cwd: str | None = None
    problems: list[str] = field(default_factory=list)


def base_name(program: str) -> str:
    """`/usr/local/bin/kubectl` -> `kubectl`."""
    return posixpath.basename(program)


def unresolved(value: str | None) -> bool:
    """A target the shell would still expand: the guard cannot know what it becomes."""
    return value is not None and any(c in value for c in "$`")
