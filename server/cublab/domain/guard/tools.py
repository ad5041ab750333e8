"""The grammars of the configuration tools the guard reads: kubectl, helm, cub, terraform, aws.

Each turns one simple command (a `Segment`, already unwrapped from sudo, env, bash -c, ...)
into an `Action`: read, local, write, a direct write to ConfigHub, a human's decision, or
unknown, with the targets the command names. Known configuration tools the guard does not
parse get a read verb through and nothing else (`unparsed`).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cublab.domain.guard.actions import Action, Chain, FileRole, Resource, base_name
from cublab.domain.guard.shell import Segment

_READ_WORDS = re.compile(
    r"^(get|list|ls|describe|show|status|version|help|info|view|diff|plan|preview|template|build|lint|validate|"
    r"whoami|logs|log|render|search|history|inspect|explain|top|check|tree|output|find|lookup|--help|-h|--version)"
    r"([-_].*)?$"
)
_WRITE_WORDS = re.compile(
    r"^(create|delete|update|apply|set|deploy|up|destroy|sync|rollback|install|upgrade|uninstall|remove|rm|put|"
    r"patch|edit|replace|scale|restart|import|write|enable|disable|reconcile|suspend|resume|promote|run|start|stop|"
    r"add|attach|detach|modify|reset|approve|terminate|move|mv|migrate|bootstrap|init|push|exec)([-_].*)?$"
)


KINDS = {
    "po": "Pod", "pod": "Pod", "pods": "Pod", "deploy": "Deployment", "deployment": "Deployment",
    "deployments": "Deployment", "svc": "Service", "service": "Service", "services": "Service",
    "cm": "ConfigMap", "configmap": "ConfigMap", "configmaps": "ConfigMap", "secret": "Secret", "secrets": "Secret",
    "ns": "Namespace", "namespace": "Namespace", "namespaces": "Namespace", "sts": "StatefulSet",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "ds": "DaemonSet", "daemonset": "DaemonSet",
    "daemonsets": "DaemonSet", "rs": "ReplicaSet", "replicaset": "ReplicaSet", "replicasets": "ReplicaSet",
    "ing": "Ingress", "ingress": "Ingress", "ingresses": "Ingress", "sa": "ServiceAccount",
    "serviceaccount": "ServiceAccount", "serviceaccounts": "ServiceAccount", "pvc": "PersistentVolumeClaim",
    "persistentvolumeclaim": "PersistentVolumeClaim", "pv": "PersistentVolume", "hpa": "HorizontalPodAutoscaler",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler", "cj": "CronJob", "cronjob": "CronJob",
    "cronjobs": "CronJob", "job": "Job", "jobs": "Job", "no": "Node", "node": "Node", "nodes": "Node",
    "crd": "CustomResourceDefinition", "crds": "CustomResourceDefinition", "netpol": "NetworkPolicy",
    "networkpolicy": "NetworkPolicy", "pdb": "PodDisruptionBudget", "poddisruptionbudget": "PodDisruptionBudget",
    "role": "Role", "roles": "Role", "rolebinding": "RoleBinding", "rolebindings": "RoleBinding",
    "clusterrole": "ClusterRole", "clusterroles": "ClusterRole", "clusterrolebinding": "ClusterRoleBinding",
    "clusterrolebindings": "ClusterRoleBinding", "ev": "Event", "event": "Event", "events": "Event",
    "servicemonitor": "ServiceMonitor", "servicemonitors": "ServiceMonitor", "lease": "Lease", "leases": "Lease",
    "quota": "ResourceQuota", "resourcequota": "ResourceQuota", "priorityclass": "PriorityClass",
    "csr": "CertificateSigningRequest", "certificatesigningrequest": "CertificateSigningRequest",
    "ep": "Endpoints", "endpoints": "Endpoints", "limits": "LimitRange", "limitrange": "LimitRange",
}  # fmt: skip
_CREATE_KINDS = {
    "deployment": "Deployment", "secret": "Secret", "configmap": "ConfigMap", "cm": "ConfigMap",
    "namespace": "Namespace", "ns": "Namespace", "job": "Job", "cronjob": "CronJob", "cj": "CronJob",
    "service": "Service", "svc": "Service", "serviceaccount": "ServiceAccount", "sa": "ServiceAccount",
    "role": "Role", "rolebinding": "RoleBinding", "clusterrole": "ClusterRole",
    "clusterrolebinding": "ClusterRoleBinding", "quota": "ResourceQuota", "priorityclass": "PriorityClass",
    "pdb": "PodDisruptionBudget", "poddisruptionbudget": "PodDisruptionBudget", "ingress": "Ingress",
    "token": "ServiceAccountToken",
}  # fmt: skip


# ---- flags --------------------------------------------------------------------------------------------------


@dataclass
class _Args:
    positionals: list[str] = field(default_factory=list)
    flags: dict[str, list[str]] = field(default_factory=dict)
    after_dashdash: list[str] = field(default_factory=list)

    def get(self, *names: str) -> str | None:
        for n in names:
            if self.flags.get(n):
                return self.flags[n][-1]
        return None

    def all(self, *names: str) -> list[str]:
        return [v for n in names for v in self.flags.get(n, [])]

    def has(self, *names: str) -> bool:
        return any(n in self.flags for n in names)


def _read_args(argv: Sequence[str], valued: set[str], optional_valued: dict[str, set[str]] | None = None) -> _Args:
    """Flags (`--x v`, `--x=v`, `-xv` for one-letter valued flags) and positionals, in order."""
    out = _Args()
    optional_valued = optional_valued or {}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            out.after_dashdash = list(argv[i:])
            break
        if a.startswith("--") and "=" in a:
            name, value = a.split("=", 1)
            out.flags.setdefault(name, []).append(value)
        elif a in optional_valued:
            if i < len(argv) and argv[i] in optional_valued[a]:
                out.flags.setdefault(a, []).append(argv[i])
                i += 1
            else:
                out.flags.setdefault(a, []).append("")
        elif a in valued:
            out.flags.setdefault(a, []).append(argv[i] if i < len(argv) else "")
            i += 1
        elif len(a) > 2 and a[0] == "-" and a[1] != "-" and a[:2] in valued:
            out.flags.setdefault(a[:2], []).append(a[2:].lstrip("="))
        elif a.startswith("-") and a != "-":
            out.flags.setdefault(a, []).append("")
        else:
            out.positionals.append(a)
    return out


# ---- kubectl ------------------------------------------------------------------------------------------------

_K_VALUED = {
    "--context", "--namespace", "-n", "--kubeconfig", "--cluster", "--user", "-s", "--server", "--token", "--as",
    "--as-group", "--as-uid", "--request-timeout", "-v", "--v", "--certificate-authority", "--client-certificate",
    "--client-key", "--tls-server-name", "--cache-dir", "--profile", "--profile-output", "--log-file", "--password",
    "--username", "-f", "--filename", "-k", "--kustomize", "-o", "--output", "-l", "--selector", "--field-selector",
    "-p", "--patch", "--patch-file", "--type", "--replicas", "--current-replicas", "--resource-version", "--image",
    "--port", "--target-port", "--name", "-c", "--container", "--timeout", "--grace-period", "--cascade",
    "--from-literal", "--from-file", "--from-env-file", "--docker-server", "--docker-username", "--docker-password",
    "--docker-email", "--cert", "--key", "--field-manager", "--template", "--sort-by", "--to-revision", "--revision",
    "--min", "--max", "--cpu-percent", "--env", "-e", "--limits", "--requests", "--serviceaccount", "--subresource",
    "--since", "--tail", "--since-time", "--max-log-requests", "--chunk-size", "--raw", "--for", "-L",
    "--label-columns", "--schedule", "--restart", "--overrides", "--labels", "--annotations", "--role",
    "--clusterrole", "--group", "--verb", "--resource", "--resource-name", "--hard", "--scopes", "--class", "--rule",
    "--default-backend", "--external-name", "--tcp", "--protocol", "--session-affinity", "--load-balancer-ip",
    "--image-pull-policy", "--pod-running-timeout", "--api-group", "--api-version", "--prune-allowlist",
    "--applyset", "--address", "--pod-selector", "--target", "--copy-to", "--duration",
    "--bound-object-kind", "--bound-object-name", "--audience",
}  # fmt: skip
_K_READ = {
    "get", "describe", "logs", "explain", "api-resources", "api-versions", "version", "cluster-info", "top", "diff",
    "events", "wait", "completion", "port-forward", "proxy", "help", "options", "kustomize",
}  # fmt: skip
_K_WRITE = {
    "apply", "create", "patch", "edit", "delete", "scale", "set", "replace", "rollout", "label", "annotate", "expose",
    "run", "autoscale", "cordon", "uncordon", "drain", "taint", "certificate", "exec", "cp", "attach", "debug",
}  # fmt: skip


def kind_of(word: str) -> str:
    """`deploy` -> Deployment, `deployments.apps` -> Deployment, `ServiceMonitor` -> ServiceMonitor."""
    base = word.split(".", 1)[0]
    known = KINDS.get(base.lower())
    if known:
        return known
    if base and base[0].isupper():
        return base
    singular = base[:-1] if base.endswith("s") and len(base) > 3 else base
    return singular[:1].upper() + singular[1:]


def _resources(words: list[str]) -> tuple[Resource, ...]:
    """`TYPE NAME...`, `TYPE/NAME...`, or `TYPE1,TYPE2` as resources."""
    if not words:
        return ()
    if all("/" in w for w in words):
        return tuple(Resource(kind_of(w.split("/", 1)[0]), w.split("/", 1)[1]) for w in words)
    kinds = [kind_of(k) for k in words[0].split(",") if k]
    names = [w for w in words[1:] if "=" not in w]
    if not names:
        return tuple(Resource(k) for k in kinds)
    return tuple(Resource(k, n) for k in kinds for n in names)


def _dry_run(args: _Args) -> bool:
    return any(v in ("client", "server", "", "true") for v in args.all("--dry-run"))


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def kubectl(seg: Segment, chain: Chain, default: tuple[str, str] | None = None) -> Action:
    argv = seg.argv
    args = _read_args(argv[1:], _K_VALUED, {"--dry-run": {"client", "server", "none"}})
    tool = base_name(argv[0]) if base_name(argv[0]) not in ("kubectl.exe", "kubecolor") else "kubectl"
    pos = args.positionals
    verb = pos[0] if pos else ""
    context = args.get("--context")
    source = "--context" if context is not None else None
    if context is None and default is not None:
        context, source = default
    if context is None and (args.has("--kubeconfig") or "KUBECONFIG" in seg.env):
        source = "unresolved: the command names its own kubeconfig"
    if context is None and source is None:
        context, source = chain.kube_context, chain.kube_context_source
    if args.has("--server", "-s", "--cluster"):  # the context's name no longer says where the command goes
        context, source = None, "unresolved: the command names its own API server or cluster (--server, --cluster)"
    namespace = args.get("--namespace", "-n")
    common = {
        "tool": tool,
        "context": context,
        "context_source": source,
        "namespace": namespace,
        "argv": tuple(argv),
        "stdin": seg.stdin,
        "stdin_file": seg.stdin_file,
    }
    if not verb or args.has("--help", "-h"):
        return Action(verb=verb, effect="read", why=f"`{tool} {verb}`: help".replace("  ", " "), **common)  # type: ignore[arg-type]
    sub = pos[1] if len(pos) > 1 else ""
    if verb == "config":
        if sub == "use-context" and len(pos) > 2:
            chain.kube_context, chain.kube_context_source = (
                pos[2],
                "`kubectl config use-context` earlier in the command",
            )
        return Action(verb=f"config {sub}".strip(), effect="local", why="changes only the local kubeconfig", **common)  # type: ignore[arg-type]
    if verb == "auth":
        if sub == "reconcile":
            return _k_write(args, "auth reconcile", pos[2:], common)
        return Action(verb=f"auth {sub}".strip(), effect="read", why=f"`{tool} auth {sub}` only reads", **common)  # type: ignore[arg-type]
    if verb == "plugin":
        return Action(verb="plugin", effect="local", why="lists or finds local kubectl plugins", **common)  # type: ignore[arg-type]
    if verb == "rollout" and sub in ("status", "history"):
        return Action(verb=f"rollout {sub}", effect="read", why=f"`{tool} rollout {sub}` only reads", **common)  # type: ignore[arg-type]
    if verb in _K_READ:
        return Action(verb=verb, effect="read", why=f"`{tool} {verb}` only reads", **common)  # type: ignore[arg-type]
    if verb in _K_WRITE:
        if _dry_run(args):
            return Action(verb=verb, effect="read", why=f"`{tool} {verb} --dry-run` changes nothing", **common)  # type: ignore[arg-type]
        return _k_write(args, verb, pos[1:], common)
    return Action(
        verb=verb,
        effect="unknown",
        why=f"`{tool} {verb}` is not a kubectl command the guard knows, so it cannot tell what it changes",
        **common,  # type: ignore[arg-type]
    )


def _k_write(args: _Args, verb: str, rest: list[str], common: dict[str, Any]) -> Action:
    files: list[tuple[str, FileRole]] = [(f, "manifest") for f in args.all("-f", "--filename")]
    files += [(k, "opaque") for k in args.all("-k", "--kustomize")]
    resources: tuple[Resource, ...] = ()
    document: dict[str, Any] | None = None
    name = ""
    shown_verb = verb
    if verb in ("rollout", "set", "certificate"):
        shown_verb = f"{verb} {rest[0]}" if rest else verb
        rest = rest[1:]
    if verb == "create" and rest and rest[0] in _CREATE_KINDS and not files:
        kind = _CREATE_KINDS[rest[0]]
        rest = rest[1:]
        if (
            kind in ("Secret", "Service")
            and rest
            and rest[0]
            in ("generic", "tls", "docker-registry", "clusterip", "nodeport", "loadbalancer", "externalname")
        ):
            rest = rest[1:]
        name = rest[0] if rest else ""
        resources = (Resource(kind, name),)
        shown_verb = f"create {kind.lower()}"
        if kind == "Secret":
            literals = dict(v.split("=", 1) for v in args.all("--from-literal") if "=" in v)
            document = {"kind": "Secret", "metadata": {"name": name}, "stringData": literals} if literals else None
        elif kind == "ConfigMap":
            literals = dict(v.split("=", 1) for v in args.all("--from-literal") if "=" in v)
            document = {"kind": "ConfigMap", "metadata": {"name": name}, "data": literals}
        elif kind == "Deployment" and args.get("--image"):
            document = {
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {"template": {"spec": {"containers": [{"name": name, "image": args.get("--image")}]}}},
            }
    elif verb in ("cordon", "uncordon", "drain", "taint"):
        target = [w for w in rest if "=" not in w and ":" not in w]
        resources = tuple(
            Resource("Node", n) for n in (target[1:] if target[:1] == ["nodes"] or target[:1] == ["node"] else target)
        )
    elif verb in ("exec", "attach", "cp", "debug"):
        words = [w for w in rest if ":" not in w or "/" in w.split(":", 1)[0]]
        first = words[0] if words else ""
        pod = first.split(":", 1)[0]
        resources = _resources([pod]) if "/" in pod else (Resource("Pod", pod),)
    elif verb == "run":
        name = rest[0] if rest else ""
        resources = (Resource("Pod", name),)
        if args.get("--image"):
            document = {
                "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"containers": [{"name": name, "image": args.get("--image")}]},
            }
    elif verb == "autoscale":
        resources = (*_resources(rest), Resource("HorizontalPodAutoscaler", args.get("--name") or ""))
    elif verb == "expose":
        resources = (Resource("Service", args.get("--name") or (rest[-1].split("/")[-1] if rest else "")),)
    elif verb in ("label", "annotate"):
        resources = _resources([w for w in rest if "=" not in w and not w.endswith("-")])
    elif not files:
        targets = [w for w in rest if "=" not in w] if verb == "set" else rest
        resources = _resources(targets[:1] if verb == "set" and targets and "/" in targets[0] else targets)
    if verb == "patch":
        document = _json_object(args.get("-p", "--patch"))
        if args.has("--patch-file"):
            files.append((args.get("--patch-file") or "", "opaque"))
    elif verb == "scale" and args.get("--replicas") is not None:
        document = {"spec": {"replicas": _int_or_text(args.get("--replicas") or "")}}
    elif shown_verb == "set image":
        images = [w.split("=", 1) for w in rest if "=" in w]
        document = {"spec": {"template": {"spec": {"containers": [{"name": c, "image": i} for c, i in images]}}}}
    elif shown_verb == "set env":
        env = [w.split("=", 1) for w in rest if "=" in w] + [
            e.split("=", 1) for e in args.all("--env", "-e") if "=" in e
        ]
        document = {
            "spec": {"template": {"spec": {"containers": [{"env": [{"name": k, "value": v} for k, v in env]}]}}}
        }
    if document is not None and resources and len(resources) == 1 and "kind" not in document:
        document = {"kind": resources[0].kind, "metadata": {"name": resources[0].name}, **document}
    return Action(verb=shown_verb, effect="write", resources=resources, files=tuple(files), document=document, **common)


def _int_or_text(value: str) -> int | str:
    return int(value) if value.isdigit() else value


# ---- helm ---------------------------------------------------------------------------------------------------

_H_VALUED = {
    "--kube-context", "-n", "--namespace", "--kubeconfig", "-f", "--values", "--set", "--set-string", "--set-file",
    "--set-json", "--set-literal", "--version", "--repo", "--username", "--password", "--timeout", "-o", "--output",
    "--post-renderer", "--post-renderer-args", "--description", "--history-max", "--max", "--ca-file", "--cert-file",
    "--key-file", "--registry-config", "--repository-cache", "--repository-config", "--kube-apiserver",
    "--kube-as-user", "--kube-as-group", "--kube-token", "--kube-ca-file", "--burst-limit", "--qps",
    "--name-template", "--labels", "-l", "--selector", "--filter", "--revision", "--cascade", "--wait-retries",
}  # fmt: skip
_H_READ = {"list", "ls", "status", "get", "history", "hist", "show", "inspect", "search", "template", "lint",
           "version", "env", "verify", "diff", "help", "completion"}  # fmt: skip
_H_LOCAL = {"repo", "dependency", "dep", "package", "pull", "fetch", "create", "plugin", "registry", "push"}
_H_WRITE = {"install", "upgrade", "rollback", "uninstall", "delete", "del", "un", "test"}


def _chart_name(chart: str) -> str:
    return posixpath.basename(chart.rstrip("/")).split(":", 1)[0].removesuffix(".tgz")


def _set_values(pairs: list[str]) -> dict[str, Any]:
    """`--set a.b=1,c=2` as nested values (what the chart receives), so the engine and the gate see them."""
    out: dict[str, Any] = {}
    for pair in pairs:
        for item in re.split(r",(?=[^,=]+=)", pair):
            if "=" not in item:
                continue
            key, value = item.split("=", 1)
            node = out
            parts = key.split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                node = child if isinstance(child, dict) else {}
            node[parts[-1]] = value
    return out


def helm(seg: Segment) -> Action:
    args = _read_args(seg.argv[1:], _H_VALUED, {"--dry-run": {"client", "server", "none", "true", "false"}})
    pos = args.positionals
    verb = pos[0] if pos else ""
    common: dict[str, Any] = {
        "tool": "helm",
        "context": args.get("--kube-context"),
        "context_source": "--kube-context" if args.get("--kube-context") is not None else None,
        "namespace": args.get("-n", "--namespace"),
        "argv": tuple(seg.argv),
        "stdin": seg.stdin,
    }
    if common["context"] is None and (args.has("--kubeconfig") or "KUBECONFIG" in seg.env):
        common["context_source"] = "unresolved: the command names its own kubeconfig"
    if args.has("--kube-apiserver"):
        common["context"], common["context_source"] = None, "unresolved: the command names its own API server"
    if not verb or args.has("--help", "-h") or verb in _H_READ:
        return Action(verb=verb, effect="read", why=f"`helm {verb}` only reads".replace("  ", " "), **common)
    if verb in _H_LOCAL:
        return Action(verb=verb, effect="local", why=f"`helm {verb}` works on local charts and repositories", **common)
    if verb not in _H_WRITE:
        return Action(verb=verb, effect="unknown", why=f"`helm {verb}` is not a helm command the guard knows", **common)
    if args.has("--dry-run") and args.get("--dry-run") not in ("none", "false"):
        return Action(verb=verb, effect="read", why=f"`helm {verb} --dry-run` changes nothing", **common)
    release = pos[1] if len(pos) > 1 else ""
    chart = pos[2] if len(pos) > 2 else ""
    if verb == "install" and args.has("--generate-name", "-g"):
        release, chart = "", release
    if verb in ("uninstall", "delete", "del", "un"):
        verb = "uninstall"
    document: dict[str, Any] = {
        "apiVersion": "helm.sh/v3",
        "kind": "HelmRelease",
        "metadata": {"name": release},
        "spec": {"chart": chart, "values": _set_values(args.all("--set", "--set-string", "--set-literal"))},
    }
    if chart:
        document["metadata"]["labels"] = {"app.kubernetes.io/name": _chart_name(chart)}
    if common["namespace"]:
        document["metadata"]["namespace"] = common["namespace"]
    files: tuple[tuple[str, FileRole], ...] = tuple((f, "values") for f in args.all("-f", "--values"))
    return Action(
        verb=verb,
        effect="write",
        resources=(Resource("HelmRelease", release),),
        files=files,
        document=document,
        **common,
    )


# ---- cub (ConfigHub) ----------------------------------------------------------------------------------------

_C_VALUED = {"--space", "--unit", "--change-desc", "--filter", "--where", "--label", "--target", "--worker",
             "--toolchain", "--data", "--context", "-o", "--output", "--jq", "--tag", "--reason", "--revision",
             "--restore", "--upgrade", "--from", "--dest-space", "--patch", "--merge-source"}  # fmt: skip
_C_READ = {"get", "list", "ls", "diff", "tree", "show", "history", "livestate", "data", "status", "search", "explain",
           "help", "whoami", "version", "lint"}  # fmt: skip
_C_HUMAN = {"approve", "apply", "destroy", "promote", "revert", "unapprove"}
_C_LOCAL = {"auth", "context", "completion", "version", "help", "login", "logout"}


def cub(seg: Segment) -> Action:
    args = _read_args(seg.argv[1:], _C_VALUED)
    pos = args.positionals
    entity = pos[0] if pos else ""
    common: dict[str, Any] = {"tool": "cub", "space": args.get("--space"), "argv": tuple(seg.argv), "stdin": seg.stdin}
    if not entity or args.has("--help", "-h"):
        return Action(verb=entity, effect="read", why="`cub` help", **common)
    if entity in _C_LOCAL:
        return Action(verb=entity, effect="local", why=f"`cub {entity}` changes only the local cub settings", **common)
    if entity == "drift-capture":
        verb, rest = "drift-capture", pos[1:]
    else:
        verb, rest = (pos[1] if len(pos) > 1 else ""), pos[2:]
    shown = f"{entity} {verb}" if entity != "drift-capture" else verb
    unit = args.get("--unit") or (rest[0] if entity == "unit" and rest else None)
    common["unit"] = unit
    if verb in _C_READ or (verb == "" and entity in ("unit", "space", "revision")):
        return Action(verb=shown, effect="read", why=f"`cub {shown}` only reads", **common)
    if verb in _C_HUMAN:
        return Action(
            verb=shown, effect="human_only", why=f"`cub {shown}` decides what the authority holds or runs", **common
        )
    files: tuple[tuple[str, FileRole], ...] = ()
    if entity == "unit" and verb in ("create", "update") and len(rest) > 1:
        files = ((rest[1], "manifest"),)
    if re.match(
        r"^(create|update|delete|import|set-target|tag|untag|edit|clone|upgrade|restore|run|do|refresh|drift-capture)$",
        verb,
    ):
        return Action(verb=shown, effect="authority_write", files=files, **common)
    return Action(verb=shown, effect="unknown", why=f"`cub {shown}` is not a cub command the guard knows", **common)


# ---- terraform ----------------------------------------------------------------------------------------------

_T_READ = {"plan", "show", "validate", "output", "graph", "providers", "version", "console", "fmt", "metadata",
           "modules", "help", "-help", "-version", "--version", "--help"}  # fmt: skip
_T_LOCAL = {"init", "get", "login", "logout", "workspace"}
_T_WRITE = {"apply", "destroy", "import", "refresh", "taint", "untaint", "test", "force-unlock"}


def terraform(seg: Segment) -> Action:
    tool = base_name(seg.argv[0])
    words = [a for a in seg.argv[1:] if not a.startswith("-chdir")]
    pos = [a for a in words if not a.startswith("-")]
    verb = pos[0] if pos else (words[0] if words else "")
    sub = pos[1] if len(pos) > 1 else ""
    workspace = seg.env.get("TF_WORKSPACE")
    common: dict[str, Any] = {
        "tool": tool,
        "context": workspace or "terraform",
        "context_source": "TF_WORKSPACE" if workspace else "no workspace named (TF_WORKSPACE)",
        "argv": tuple(seg.argv),
    }
    if not verb or verb in _T_READ or (verb == "state" and sub in ("list", "show", "pull")):
        return Action(verb=verb, effect="read", why=f"`{tool} {verb}` changes no infrastructure", **common)
    if verb in _T_LOCAL and not (verb == "workspace" and sub in ("new", "delete")):
        return Action(
            verb=f"{verb} {sub}".strip(),
            effect="local",
            why=f"`{tool} {verb}` works on the local working directory",
            **common,
        )
    if verb in _T_WRITE or verb in ("state", "workspace"):
        targets = [a.split("=", 1)[1] for a in words if a.startswith("-target=")]
        var_files = [a.split("=", 1)[1] for a in words if a.startswith("-var-file=")]
        variables = dict(a.split("=", 1)[1].split("=", 1) for a in words if a.startswith("-var=") and "=" in a[5:])
        i = 0
        while i < len(words) - 1:  # `-var k=v` and `-target addr` spelled with a space
            if words[i] == "-var" and "=" in words[i + 1]:
                k, v = words[i + 1].split("=", 1)
                variables[k] = v
            elif words[i] == "-target":
                targets.append(words[i + 1])
            elif words[i] == "-var-file":
                var_files.append(words[i + 1])
            i += 1
        plan_files = [p for p in pos[1:] if p.endswith((".tfplan", ".plan", ".out"))]
        return Action(
            verb=f"{verb} {sub}".strip() if verb in ("state", "workspace") else verb,
            effect="write",
            resources=tuple(Resource("TerraformResource", t) for t in targets) or (Resource("TerraformConfiguration"),),
            files=tuple((f, "opaque") for f in var_files + plan_files),
            document={"kind": "TerraformConfiguration", "metadata": {"name": ""}, "spec": {"variables": variables}}
            if variables
            else None,
            **common,
        )
    return Action(
        verb=verb, effect="unknown", why=f"`{tool} {verb}` is not a terraform command the guard knows", **common
    )


# ---- aws ----------------------------------------------------------------------------------------------------

_A_VALUED = {"--profile", "--region", "--endpoint-url", "--output", "--query", "--color", "--ca-bundle",
             "--cli-read-timeout", "--cli-connect-timeout", "--cli-binary-format"}  # fmt: skip
_A_READ = re.compile(
    r"^(describe|get|list|head|batch-get|scan|query|search|lookup|validate|estimate|simulate|filter|tail|wait|help|"
    r"preview|select|download|view|check|ls|presign)(-.*)?$"
)
_A_NAME_FLAGS = ("--function-name", "--stack-name", "--bucket", "--name", "--cluster", "--service", "--secret-id",
                 "--table-name", "--db-instance-identifier", "--queue-url", "--topic-arn", "--role-name",
                 "--instance-ids", "--key", "--parameter-name")  # fmt: skip
_LOCAL_ENDPOINT = re.compile(
    r"^(https?://)?(localhost|127\.0\.0\.1|\[::1\]|localstack|host\.docker\.internal)(:\d+)?(/.*)?$"
)


def aws(seg: Segment) -> Action:
    args = _read_args(seg.argv[1:], set(_A_VALUED) | set(_A_NAME_FLAGS) | {"--value", "--secret-string", "--type"})
    pos = args.positionals
    service = pos[0] if pos else ""
    operation = pos[1] if len(pos) > 1 else ""
    endpoint = args.get("--endpoint-url")
    profile = args.get("--profile") or seg.env.get("AWS_PROFILE")
    if base_name(seg.argv[0]) == "awslocal" or (endpoint and _LOCAL_ENDPOINT.match(endpoint)):
        context, source = "localhost", "awslocal" if base_name(seg.argv[0]) == "awslocal" else "--endpoint-url"
    elif endpoint:
        context, source = endpoint, "--endpoint-url"
    elif profile:
        context, source = profile, "--profile" if args.get("--profile") else "AWS_PROFILE"
    else:
        context, source = "aws", "no profile named (--profile, AWS_PROFILE)"
    shown = f"{service} {operation}".strip()
    common: dict[str, Any] = {
        "tool": "aws",
        "verb": shown,
        "context": context,
        "context_source": source,
        "argv": tuple(seg.argv),
    }
    if not service or service in ("help", "sts") or args.has("--version") or operation in ("help", ""):
        return Action(effect="read", why=f"`aws {shown}` only reads".replace("  ", " "), **common)
    if service == "configure":
        return Action(effect="local", why="`aws configure` changes only the local AWS settings", **common)
    if args.has("--dry-run") or _A_READ.match(operation):
        return Action(effect="read", why=f"`aws {shown}` only reads", **common)
    name = args.get(*_A_NAME_FLAGS) or ""
    secret = service == "secretsmanager" or (service == "ssm" and (args.get("--type") or "") == "SecureString")
    kind = "Secret" if secret else f"aws:{service}"
    document = None
    value = args.get("--secret-string", "--value")
    if secret and value is not None:
        document = {"kind": "Secret", "metadata": {"name": name}, "stringData": {"value": value}}
    return Action(effect="write", resources=(Resource(kind, name),), document=document, **common)


# ---- known configuration tools the guard does not parse -------------------------------------------------------


def unparsed(seg: Segment) -> Action:
    prog = base_name(seg.argv[0])
    words = [a for a in seg.argv[1:] if not a.startswith("-") or a in ("--help", "-h", "--version")]
    for w in words[:4]:
        if _READ_WORDS.match(w):
            return Action(tool=prog, verb=w, effect="read", why=f"`{prog} {w}` only reads", argv=tuple(seg.argv))
        if _WRITE_WORDS.match(w):
            break
    verb = " ".join(words[:2])
    return Action(
        tool=prog,
        verb=verb,
        effect="unknown",
        why=f"`{prog} {verb}` may change configuration, and the guard does not parse {prog}'s targets".replace(
            "  ", " "
        ),
        argv=tuple(seg.argv),
    )
