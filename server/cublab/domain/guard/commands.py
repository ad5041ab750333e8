"""What a command will do: the programs it runs, whether each writes, and to what.

`parse_command(command)` reads a command an agent is about to run (a shell line, or an
argv list) into `Action`s, one per program it runs, after unwrapping what only runs
something else (`sudo`, `env`, `nohup`, `timeout`, `xargs`, `watch`, `bash -c "..."`,
`eval`). Each action says its `effect`:

- `read`: a known read-only command (`kubectl get`, `helm status`, `terraform plan`,
  `cub unit get`, `aws ... describe-*`, or any write with `--dry-run`): allowed without
  asking the authority;
- `local`: changes only the tool's own local settings (`kubectl config use-context`,
  `helm repo add`, `terraform init`);
- `write`: changes a cluster or cloud account: the bypass engine decides;
- `authority_write`: writes ConfigHub directly (`cub unit update|create|delete`): agents
  reach the authority only through `variant_promote`;
- `human_only`: approves or applies (`cub unit approve|apply`): never an agent's;
- `unknown`: a configuration tool the guard cannot read the target of (an unknown verb, a
  target that is a shell expansion, a tool it knows writes configuration but does not parse,
  a program that runs `kubectl` in a way it cannot see): denied, never allowed by default;
- `outside`: a program that is not a configuration tool (`ls`, `git`, `pytest`): the guard
  has no opinion on it (docs/guard.md says plainly what that leaves unseen).

Targets are read from the command only (flags, positionals, inline patches, the text fed to
its stdin). Files named with `-f` are listed, never opened: the use case reads them, or the
caller passes their contents. The kubectl context a command does not name is left `None`
for the use case to take from the kubeconfig, unless the line changes it first
(`kubectl config use-context X && ...`, or a new `KUBECONFIG`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cublab.domain.guard import tools
from cublab.domain.guard.actions import ASSIGNMENT, Action, Chain, Effect, FileRole, Resource, base_name, unresolved
from cublab.domain.guard.shell import KEYWORDS, Parsed, Segment, from_argv, split_line

__all__ = ["Action", "Effect", "FileRole", "ParsedCommand", "Resource", "parse_command", "unresolved"]

KUBECTL = {"kubectl", "oc", "kubectl.exe", "kubecolor"}
TERRAFORM = {"terraform", "tofu", "terragrunt"}
GOVERNED = KUBECTL | TERRAFORM | {"helm", "cub", "aws", "awslocal"}
# Configuration tools the guard knows write configuration but does not parse: read verbs pass, the rest is denied.
UNPARSED = {
    "gcloud", "az", "pulumi", "argocd", "flux", "eksctl", "kustomize", "kubeadm", "kops", "doctl", "vault",
    "consul", "nomad", "ansible", "ansible-playbook", "cdk", "cdktf", "serverless", "sls", "sam", "copilot",
    "skaffold", "tilt", "kpt", "kapp", "crossplane", "istioctl", "linkerd", "kn", "velero", "helmfile",
    "kubectx", "kubens", "k9s", "oci", "ibmcloud", "hcloud", "linode-cli", "scw", "kubeseal", "kubebuilder",
}  # fmt: skip
# Programs that run their arguments as a command in a way the guard does not follow.
RUNNERS = {
    "find", "ssh", "parallel", "docker", "podman", "nsenter", "chroot", "script", "tmux", "screen", "at",
    "python", "python3", "node", "perl", "ruby", "php", "deno", "bun", "npx", "bunx", "uvx", "pipx", "uv", "poetry",
}  # fmt: skip
SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "ash", "fish"}


@dataclass
class ParsedCommand:
    actions: list[Action]
    problems: list[str] = field(default_factory=list)


# ---- unwrapping -------------------------------------------------------------------------------------------


def _skip_options(argv: list[str], valued: set[str], *, stop_at_assignment: bool = False) -> list[str]:
    """argv after a wrapper's own options (those in `valued` take a value)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return argv[i + 1 :]
        if not a.startswith("-") or a == "-" or (stop_at_assignment and "=" in a and not a.startswith("-")):
            break
        i += 2 if a in valued else 1
    return argv[i:]


def _unwrap(seg: Segment, depth: int, chain: Chain) -> list[Action] | None:
    """Actions of a wrapper (sudo, env, bash -c, ...), or None when the program is not one."""
    argv = seg.argv
    prog = base_name(argv[0])
    rest = argv[1:]
    inner: list[str] | None = None
    if prog in ("sudo", "doas"):
        inner = _skip_options(rest, _SUDO_VALUED)
    elif prog == "env":
        split = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a in ("-S", "--split-string")), None)
        split = split or next((a.split("=", 1)[1] for a in rest if a.startswith("--split-string=")), None)
        if split is not None:  # env -S "kubectl delete ns x": the string is the command line
            return _line_actions(split, depth + 1, chain)
        rest = _skip_options(rest, {"-u", "-C", "--unset", "--chdir"})
        env = dict(seg.env)
        while rest and ASSIGNMENT.match(rest[0]):
            k, v = rest.pop(0).split("=", 1)
            env[k] = v
        return _segment_actions(replace(seg, argv=rest, env=env), depth, chain) if rest else []
    elif prog in ("nohup", "exec", "builtin", "time", "command", "stdbuf", "ionice", "chrt", "taskset", "nice"):
        if prog == "command" and rest[:1] in (["-v"], ["-V"]):
            return [Action(tool=prog, verb="-v", effect="outside", why="`command -v` only looks a program up")]
        inner = _skip_options(rest, _SIMPLE_VALUED)
        if prog in ("chrt", "taskset") and inner:
            inner = inner[1:]
    elif prog == "timeout":
        inner = _skip_options(rest, {"-s", "-k", "--signal", "--kill-after"})[1:]
    elif prog == "flock":
        inner = _skip_options(rest, {"-w", "-E", "--timeout", "--conflict-exit-code"})[1:]
    elif prog == "watch":
        inner = _skip_options(rest, {"-n", "--interval", "-d", "--differences"})
        if len(inner) == 1:
            return _line_actions(inner[0], depth + 1, chain)
    elif prog == "xargs":
        inner = _skip_options(
            rest, {"-I", "-i", "-n", "-P", "-L", "-d", "-E", "-s", "-a", "--max-args", "--max-procs", "--delimiter"}
        )
        if not inner:
            return [Action(tool="xargs", verb="", effect="outside", why="xargs runs echo")]
        # xargs puts what it reads in place of its -I string, or at the end: a target the guard cannot see.
        replace_str = next(
            (rest[i + 1] for i, a in enumerate(rest[:-1]) if a == "-I"),
            next((a[2:] for a in rest if a.startswith("-I") and len(a) > 2), None),
        )
        if replace_str is None and any(a in ("-i", "--replace") or a.startswith("--replace=") for a in rest):
            replace_str = "{}"
        if replace_str:
            inner = [a.replace(replace_str, "$__cublab_xargs__") for a in inner]
        inner = [*inner, "$__cublab_xargs__"]
    elif prog in SHELLS or prog == "su":
        opts = [a for a in rest if a.startswith("-") and not a.startswith("--")]
        if any("c" in o[1:] for o in opts):
            pos = [a for a in rest if not a.startswith("-")]
            if prog == "su" and len(pos) > 1 and pos[0] != pos[-1]:
                pos = pos[1:]  # su -c CMD user / su user -c CMD: the command is the -c argument
            script = next(
                (rest[i + 1] for i, a in enumerate(rest[:-1]) if a.startswith("-") and "c" in a[1:]),
                pos[0] if pos else "",
            )
            return _line_actions(script, depth + 1, chain)
        if prog == "su":
            return [Action(tool="su", verb="", effect="outside", why="su without -c opens a shell")]
        if seg.stdin is not None:  # bash <<EOF ... EOF: the here-document is the script
            return _line_actions(seg.stdin, depth + 1, chain)
        return None  # `bash script.sh`: a program the guard cannot read into
    elif prog == "eval":
        return _line_actions(" ".join(rest), depth + 1, chain)
    if inner is None:
        return None
    if not inner:
        return []
    return _segment_actions(replace(seg, argv=inner), depth, chain)


def _line_actions(text: str, depth: int, chain: Chain) -> list[Action]:
    parsed = split_line(text, depth)
    return _parsed_actions(parsed, depth, chain)


def _parsed_actions(parsed: Parsed, depth: int, chain: Chain) -> list[Action]:
    chain.problems += parsed.problems
    out: list[Action] = []
    for seg in parsed.segments:
        if seg.argv and seg.argv[0] == "export" and any(a.startswith("KUBECONFIG=") for a in seg.argv[1:]):
            chain.kube_context, chain.kube_context_source = (
                None,
                "unresolved: KUBECONFIG is changed earlier in the command",
            )
        if not seg.argv:
            if "KUBECONFIG" in seg.env:
                chain.kube_context, chain.kube_context_source = (
                    None,
                    "unresolved: KUBECONFIG is changed earlier in the command",
                )
            continue
        if seg.stdin is None and seg.piped_from is not None:
            seg.stdin = _piped_text(seg.piped_from)
        if base_name(seg.argv[0]) in ("cd", "pushd"):
            target = seg.argv[1] if len(seg.argv) == 2 else "$__cublab_cd__"  # `cd`, `cd -`: not followed
            chain.cwd = posixpath.join(chain.cwd or "", "$__cublab_cd__" if target == "-" else target)
        actions = _segment_actions(seg, depth, chain)
        out += [replace(a, cwd=chain.cwd) for a in actions] if chain.cwd else actions
    return out


_SUDO_VALUED = {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group"}
_SIMPLE_VALUED = {"-n", "-i", "-o", "-e", "-c", "-p", "--adjustment"}


def _without_wrappers(argv: list[str]) -> list[str]:
    """argv after the wrappers that only run what follows them (sudo, env, nohup, timeout, ...)."""
    while argv:
        prog = base_name(argv[0])
        if ASSIGNMENT.match(argv[0]) or argv[0] in KEYWORDS:
            argv = argv[1:]
        elif prog in ("sudo", "doas"):
            argv = _skip_options(argv[1:], _SUDO_VALUED)
        elif prog == "env":
            argv = _skip_options(argv[1:], {"-u", "-C", "--unset", "--chdir"})
        elif prog in ("nohup", "exec", "builtin", "time", "command", "stdbuf", "nice"):
            argv = _skip_options(argv[1:], _SIMPLE_VALUED)
        elif prog == "timeout":
            argv = _skip_options(argv[1:], {"-s", "-k", "--signal", "--kill-after"})[1:]
        else:
            return argv
    return argv


def _piped_text(source: Segment) -> str | None:
    """What `echo ... |`, `printf ... |` or `cat <<EOF |` feed the next command, when the line says it."""
    argv = _without_wrappers(list(source.argv))  # `sudo -u x -- echo …`: the text is still what the line shows
    if not argv:
        return None
    prog = base_name(argv[0])
    if prog == "echo":
        words = [a for a in argv[1:] if a not in ("-n", "-e", "-E")]
        return " ".join(words) + "\n"
    if prog == "printf" and len(argv) == 2:
        return argv[1].replace("\\n", "\n")
    if prog == "cat" and len(argv) == 1:
        return source.stdin
    return None


def _segment_actions(seg: Segment, depth: int, chain: Chain) -> list[Action]:
    if seg.argv and (ASSIGNMENT.match(seg.argv[0]) or seg.argv[0] in KEYWORDS):
        # after a wrapper: `sudo X=1 cmd` (assignments), or a reserved word the shell would not run
        # (`sudo { cmd; }`): judged as the command that follows, never less strictly
        argv, env = list(seg.argv), dict(seg.env)
        while argv and (ASSIGNMENT.match(argv[0]) or argv[0] in KEYWORDS):
            if argv[0] in KEYWORDS:
                argv.pop(0)
                continue
            name, value = argv.pop(0).split("=", 1)
            env[name] = value
        seg = replace(seg, argv=argv, env=env)
    if not seg.argv:
        return []
    wrapped = _unwrap(seg, depth, chain)
    if wrapped is not None:
        return wrapped
    prog = base_name(seg.argv[0])
    argv = seg.argv
    if prog in ("microk8s", "k3s") and argv[1:2] == ["kubectl"]:
        return [tools.kubectl(replace(seg, argv=argv[1:]), chain, default=(prog, f"`{prog} kubectl`"))]
    if prog == "microk8s.kubectl":
        return [tools.kubectl(seg, chain, default=("microk8s", "`microk8s.kubectl`"))]
    if prog == "minikube" and argv[1:2] == ["kubectl"]:
        rest = argv[2:]
        rest = rest[1:] if rest[:1] == ["--"] else rest
        return [tools.kubectl(replace(seg, argv=["kubectl", *rest]), chain, default=("minikube", "`minikube kubectl`"))]
    if prog in KUBECTL:
        return [tools.kubectl(seg, chain)]
    if prog == "helm":
        return [tools.helm(seg)]
    if prog == "cub":
        return [tools.cub(seg)]
    if prog in TERRAFORM:
        return [tools.terraform(seg)]
    if prog in ("aws", "awslocal"):
        return [tools.aws(seg)]
    if prog in UNPARSED:
        return [tools.unparsed(seg)]
    if prog in RUNNERS:
        words = {base_name(w) for a in argv[1:] for w in re.split(r"[\s;&|()'\"]+", a) if w}
        named = sorted(words & (GOVERNED | UNPARSED))
        if named:
            return [
                Action(
                    tool=prog,
                    verb=argv[1] if len(argv) > 1 else "",
                    effect="unknown",
                    why=f"`{prog}` runs {', '.join(named)} in a way the guard cannot follow; run it directly",
                    argv=tuple(argv),
                )
            ]
    return [
        Action(
            tool=prog,
            verb=argv[1] if len(argv) > 1 else "",
            effect="outside",
            why=f"`{prog}` is not a configuration tool the guard governs",
            argv=tuple(argv),
        )
    ]


def parse_command(command: str | Sequence[str]) -> ParsedCommand:
    """Every program `command` runs and what each does. A string is read as a shell line; a list as argv."""
    chain = Chain()
    try:
        if isinstance(command, str):
            actions = _line_actions(command, 0, chain)
        else:
            actions = _parsed_actions(from_argv(list(command)), 0, chain)
    except (ValueError, IndexError, KeyError, RecursionError) as exc:  # never guess: what cannot be read is denied
        return ParsedCommand(actions=[], problems=[f"the guard could not read it ({exc.__class__.__name__})"])
    return ParsedCommand(actions=actions, problems=list(dict.fromkeys(chain.problems)))
