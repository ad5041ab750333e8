"""The guard's command parser, as a table: what each command runs, whether it writes, and to what.

Every row is one command an agent might run; the expected value lists, per program it runs,
`tool effect` and the targets the guard must see (context, namespace, space/unit, kind/name,
files). A row that reads wrong here is a command the guard would judge on the wrong target."""

from __future__ import annotations

import pytest

from cublab.domain.guard import parse_command
from cublab.domain.guard.changes import Source, plan_changes, unresolved_target


def summary(command: str | list[str]) -> list[str]:
    parsed = parse_command(command)
    out = [f"problem: {p}" for p in parsed.problems]
    for a in parsed.actions:
        parts = [a.tool, a.effect]
        if a.context:
            parts.append(f"ctx={a.context}")
        if a.namespace:
            parts.append(f"ns={a.namespace}")
        if a.space:
            parts.append(f"space={a.space}")
        if a.unit:
            parts.append(f"unit={a.unit}")
        parts += [f"{r.kind}/{r.name}" if r.name else r.kind for r in a.resources]
        parts += [f"file={f}" for f, _ in a.files]
        out.append(" ".join(parts))
    return out


TABLE: list[tuple[str | list[str], list[str]]] = [
    # kubectl: reads
    ("kubectl get pods", ["kubectl read"]),
    ("kubectl get pods -n web --context prod", ["kubectl read ctx=prod ns=web"]),
    ("kubectl describe deploy/web", ["kubectl read"]),
    ("kubectl logs -f web-7c9 --tail 100", ["kubectl read"]),
    ("kubectl diff -f web.yaml", ["kubectl read"]),
    ("kubectl rollout status deploy/web", ["kubectl read"]),
    ("kubectl auth can-i delete pods", ["kubectl read"]),
    ("kubectl apply -f web.yaml --dry-run=server", ["kubectl read"]),
    ("kubectl apply -f web.yaml --dry-run client", ["kubectl read"]),
    ("kubectl config use-context kind-dev", ["kubectl local"]),
    ("kubectl", ["kubectl read"]),
    ("kubectl apply --help", ["kubectl read"]),
    # kubectl: writes
    ("kubectl apply -f web.yaml", ["kubectl write file=web.yaml"]),
    (
        "kubectl apply -f web.yaml -f db.yaml --context kind-dev",
        ["kubectl write ctx=kind-dev file=web.yaml file=db.yaml"],
    ),
    ("kubectl --context=prod-eu -n shop apply -f -", ["kubectl write ctx=prod-eu ns=shop file=-"]),
    ("kubectl apply -k overlays/prod", ["kubectl write file=overlays/prod"]),
    ("kubectl -nweb delete deploy/api svc/api", ["kubectl write ns=web Deployment/api Service/api"]),
    ("kubectl delete pod web-1 web-2 -n shop", ["kubectl write ns=shop Pod/web-1 Pod/web-2"]),
    ("kubectl delete namespace preview-42", ["kubectl write Namespace/preview-42"]),
    ("kubectl scale deployment web --replicas=5", ["kubectl write Deployment/web"]),
    ("kubectl scale --replicas 0 sts/db", ["kubectl write StatefulSet/db"]),
    ('kubectl patch deploy web -p \'{"spec":{"replicas":2}}\'', ["kubectl write Deployment/web"]),
    ("kubectl edit cm/settings -n web", ["kubectl write ns=web ConfigMap/settings"]),
    ("kubectl set image deploy/web web=nginx:1.27", ["kubectl write Deployment/web"]),
    ("kubectl set env deployment/web LOG_LEVEL=debug", ["kubectl write Deployment/web"]),
    ("kubectl rollout restart deploy/web", ["kubectl write Deployment/web"]),
    ("kubectl rollout undo deployment/web --to-revision=3", ["kubectl write Deployment/web"]),
    ("kubectl replace --force -f web.yaml", ["kubectl write file=web.yaml"]),
    ("kubectl create namespace scratch", ["kubectl write Namespace/scratch"]),
    ("kubectl create deployment web --image=nginx", ["kubectl write Deployment/web"]),
    ("kubectl create secret generic db --from-literal=user=app", ["kubectl write Secret/db"]),
    ("kubectl label deploy web tier=gold", ["kubectl write Deployment/web"]),
    ("kubectl annotate svc web a=b --overwrite", ["kubectl write Service/web"]),
    ("kubectl drain node-1 --ignore-daemonsets", ["kubectl write Node/node-1"]),
    ("kubectl exec -it web-1 -- rm -rf /data", ["kubectl write Pod/web-1"]),
    ("kubectl run debug --image=busybox --restart=Never", ["kubectl write Pod/debug"]),
    ("kubectl frobnicate web", ["kubectl unknown"]),
    ("oc apply -f route.yaml", ["oc write file=route.yaml"]),
    ("/usr/local/bin/kubectl delete pod x", ["kubectl write Pod/x"]),
    ("microk8s kubectl apply -f web.yaml", ["kubectl write ctx=microk8s file=web.yaml"]),
    ("minikube kubectl -- delete pod x", ["kubectl write ctx=minikube Pod/x"]),
    # wrappers and chains: every segment judged
    ("sudo -E kubectl delete ns web", ["kubectl write Namespace/web"]),
    ("env KUBECONFIG=/tmp/k kubectl apply -f x.yaml", ["kubectl write file=x.yaml"]),
    ("FOO=1 BAR=2 kubectl get pods", ["kubectl read"]),
    ("nohup timeout 30 kubectl rollout restart deploy/web &", ["kubectl write Deployment/web"]),
    ("bash -c 'kubectl apply -f web.yaml && helm list'", ["kubectl write file=web.yaml", "helm read"]),
    ('sh -lc "kubectl delete pod x"', ["kubectl write Pod/x"]),
    ("kubectl get pods; kubectl delete pod x", ["kubectl read", "kubectl write Pod/x"]),
    ("kubectl get pods || kubectl apply -f a.yaml", ["kubectl read", "kubectl write file=a.yaml"]),
    (
        "kubectl get pods -o name | grep web | xargs kubectl delete",
        ["kubectl read", "grep outside", "kubectl write $__cublab_xargs__"],
    ),
    (
        "kubectl config use-context prod && kubectl scale deploy web --replicas=5",
        ["kubectl local", "kubectl write ctx=prod Deployment/web"],
    ),
    (
        "kubectl delete pod $(kubectl get pods -o name | head -1)",
        ["kubectl read", "head outside", "kubectl write Pod/$__cublab_subst_0__"],
    ),
    ("watch 'kubectl get pods'", ["kubectl read"]),
    ('eval "kubectl delete pod x"', ["kubectl write Pod/x"]),
    ("cat <<EOF | kubectl apply -f -\napiVersion: v1\nkind: ConfigMap\nEOF", ["cat outside", "kubectl write file=-"]),
    ("echo hello", ["echo outside"]),
    ("ls -la && git status", ["ls outside", "git outside"]),
    ("find . -name '*.yaml' -exec kubectl apply -f {} \\;", ["find unknown"]),
    ("ssh bastion kubectl delete ns web", ["ssh unknown"]),
    ("ssh bastion 'kubectl delete ns web'", ["ssh unknown"]),
    ("env -S 'kubectl delete ns web'", ["kubectl write Namespace/web"]),
    ("python3 -c \"import os; os.system('kubectl delete ns web')\"", ["python3 unknown"]),
    ("npx cdk deploy", ["npx unknown"]),
    ("python3 -m pytest tests/test_kubectl.py", ["python3 outside"]),
    ("echo 'kubectl delete ns web' | bash", ["echo outside", "kubectl write Namespace/web"]),
    ("kubecolor delete ns web", ["kubectl write Namespace/web"]),
    ("terragrunt apply", ["terragrunt write ctx=terraform TerraformConfiguration"]),
    ("echo 'unbalanced", ["problem: the shell cannot read it either: No closing quotation"]),
    ("kubectl logs $(", ["problem: a command substitution ($(...) or a backtick) is not closed"]),
    (
        ["kubectl", "apply", "-f", "web yaml.yaml", "--context", "kind-x"],
        ["kubectl write ctx=kind-x file=web yaml.yaml"],
    ),
    (["sudo", "kubectl", "get", "pods"], ["kubectl read"]),
    # shell reserved words: the command after them runs
    ("for f in *.yaml; do kubectl apply -f $f; done", ["kubectl write file=$f"]),
    ("if kubectl get ns x; then kubectl delete ns x; fi", ["kubectl read", "kubectl write Namespace/x"]),
    ("while read p; do kubectl delete pod $p; done < pods.txt", ["read outside", "kubectl write Pod/$p"]),
    ("{ kubectl get pods; kubectl delete pod x; }", ["kubectl read", "kubectl write Pod/x"]),
    ("! kubectl get ns x || kubectl create ns x", ["kubectl read", "kubectl write Namespace/x"]),
    ("xargs -I{} sh -c 'kubectl delete pod {}'", ["kubectl write Pod/$__cublab_xargs__"]),
    # helm
    ("helm list -A", ["helm read"]),
    ("helm status web -n shop", ["helm read ns=shop"]),
    ("helm template web ./chart", ["helm read"]),
    ("helm repo add jetstack https://charts.jetstack.io", ["helm local"]),
    (
        "helm upgrade --install web ./chart -n shop --kube-context prod -f values-prod.yaml",
        ["helm write ctx=prod ns=shop HelmRelease/web file=values-prod.yaml"],
    ),
    (
        "helm install cert-manager jetstack/cert-manager -n cert-manager",
        ["helm write ns=cert-manager HelmRelease/cert-manager"],
    ),
    ("helm rollback web 3", ["helm write HelmRelease/web"]),
    ("helm uninstall web --kube-context kind-dev", ["helm write ctx=kind-dev HelmRelease/web"]),
    ("helm upgrade web ./chart --dry-run", ["helm read"]),
    ("helm frob web", ["helm unknown"]),
    # cub
    ("cub unit get web --space shop-prod", ["cub read space=shop-prod unit=web"]),
    ("cub unit list --space shop-prod", ["cub read space=shop-prod"]),
    ("cub unit update web web.yaml --space shop-prod", ["cub authority_write space=shop-prod unit=web file=web.yaml"]),
    ("cub unit create web web.yaml --space shop-dev", ["cub authority_write space=shop-dev unit=web file=web.yaml"]),
    ("cub unit delete web --space shop-prod", ["cub authority_write space=shop-prod unit=web"]),
    ("cub unit apply web --space shop-prod", ["cub human_only space=shop-prod unit=web"]),
    ("cub unit approve web --space shop-prod", ["cub human_only space=shop-prod unit=web"]),
    ("cub auth login", ["cub local"]),
    # terraform
    ("terraform plan -out plan.tfplan", ["terraform read ctx=terraform"]),
    ("terraform init", ["terraform local ctx=terraform"]),
    ("terraform apply -auto-approve", ["terraform write ctx=terraform TerraformConfiguration"]),
    (
        "TF_WORKSPACE=prod terraform apply plan.tfplan",
        ["terraform write ctx=prod TerraformConfiguration file=plan.tfplan"],
    ),
    (
        "terraform destroy -target=aws_instance.web",
        ["terraform write ctx=terraform TerraformResource/aws_instance.web"],
    ),
    ("tofu apply", ["tofu write ctx=terraform TerraformConfiguration"]),
    # aws
    ("aws s3 ls", ["aws read ctx=aws"]),
    ("aws ec2 describe-instances --profile prod", ["aws read ctx=prod"]),
    (
        "aws --profile prod lambda update-function-configuration --function-name f --timeout 30",
        ["aws write ctx=prod aws:lambda/f"],
    ),
    ("AWS_PROFILE=dev aws ssm put-parameter --name /x --value y", ["aws write ctx=dev aws:ssm//x"]),
    (
        "aws --endpoint-url http://localhost:4566 s3api create-bucket --bucket b",
        ["aws write ctx=localhost aws:s3api/b"],
    ),
    ("awslocal sqs delete-queue --queue-url q", ["aws write ctx=localhost aws:sqs/q"]),
    ("aws secretsmanager put-secret-value --secret-id db --secret-string s3cr3t", ["aws write ctx=aws Secret/db"]),
    # configuration tools the guard does not parse
    ("pulumi up --yes", ["pulumi unknown"]),
    ("pulumi preview", ["pulumi read"]),
    ("gcloud compute instances list", ["gcloud read"]),
    ("argocd app sync web", ["argocd unknown"]),
    ("kustomize build overlays/prod", ["kustomize read"]),
]


@pytest.mark.parametrize(("command", "expected"), TABLE, ids=[str(c)[:60] for c, _ in TABLE])
def test_the_parser_reads_each_command(command: str | list[str], expected: list[str]) -> None:
    assert summary(command) == expected


def test_the_table_covers_at_least_sixty_commands() -> None:
    assert len(TABLE) >= 60


def test_a_here_document_reaches_the_command_that_reads_stdin() -> None:
    (_cat, apply) = parse_command("cat <<'EOF' | kubectl apply -f -\nkind: ConfigMap\nmetadata: {name: x}\nEOF").actions
    assert apply.stdin == "kind: ConfigMap\nmetadata: {name: x}\n"
    (direct,) = parse_command("kubectl apply -f - <<EOF\nkind: Secret\nEOF").actions
    assert direct.stdin == "kind: Secret\n"
    (piped,) = [
        a for a in parse_command('echo \'{"kind": "Pod"}\' | kubectl apply -f -').actions if a.tool == "kubectl"
    ]
    assert piped.stdin == '{"kind": "Pod"}\n'


def test_a_write_whose_target_is_a_shell_expansion_is_unresolved() -> None:
    for command in (
        "kubectl --context $CTX apply -f x.yaml",
        "kubectl delete pod $(kubectl get pods -o name)",
        "kubectl get pods | xargs kubectl delete pod",
        "kubectl get pods -o name | xargs kubectl delete",
        "KUBECONFIG=/tmp/other kubectl apply -f x.yaml",
        "export KUBECONFIG=/tmp/k; kubectl apply -f x.yaml",
        "kubectl --context kind-dev --server https://prod.example.com:6443 apply -f x.yaml",
        "helm upgrade web ./c --kube-context kind-a --kube-apiserver https://prod:6443",
    ):
        writes = [a for a in parse_command(command).actions if a.effect == "write"]
        assert writes and unresolved_target(writes[-1]), command
    (named,) = parse_command("KUBECONFIG=/tmp/other kubectl --context kind-a apply -f x.yaml").actions
    assert unresolved_target(named) is None


def test_patches_scales_and_images_become_the_document_the_engine_reads() -> None:
    (patch,) = parse_command('kubectl patch deploy web -n shop -p \'{"spec":{"replicas":2}}\'').actions
    assert patch.document == {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}
    (image,) = parse_command("kubectl set image deploy/argocd-server s=quay.io/argoproj/argocd:v2").actions
    assert image.document is not None
    assert image.document["spec"]["template"]["spec"]["containers"] == [
        {"name": "s", "image": "quay.io/argoproj/argocd:v2"}
    ]
    (helm,) = parse_command("helm upgrade web ./charts/web --set db.host=x,replicas=3").actions
    assert helm.document is not None and helm.document["spec"]["values"] == {"db": {"host": "x"}, "replicas": "3"}


def test_each_document_of_a_manifest_is_its_own_change() -> None:
    (apply,) = parse_command("kubectl apply -f all.yaml -n shop").actions
    text = (
        "kind: Deployment\nmetadata: {name: web}\n---\nkind: List\nitems:\n- kind: Service\n  metadata: {name: web}\n"
    )
    changes, notes = plan_changes(apply, {"all.yaml": Source(text)}, "kind-dev")
    assert [(c.kind, c.facts.name, c.facts.namespace, c.facts.context) for c in changes] == [
        ("Deployment", "web", "shop", "kind-dev"),
        ("Service", "web", "shop", "kind-dev"),
    ]
    assert notes == []
    missing, notes = plan_changes(apply, {"all.yaml": Source(None, "no such file")}, None)
    assert [(c.kind, c.facts.context) for c in missing] == [("", "unknown")]
    assert any("no such file" in n for n in notes) and any("unknown (not local) context" in n for n in notes)


def test_literal_secrets_in_a_document_reach_the_engine_as_paths() -> None:
    (apply,) = parse_command("kubectl apply -f db.yaml").actions
    text = "kind: Deployment\nmetadata: {name: db}\nspec:\n  env:\n    DB_PASSWORD: Tr0ub4dor-x9Qz7Lk2\n"
    (change,), _ = plan_changes(apply, {"db.yaml": Source(text)}, "prod")
    assert change.facts.secret_paths == ["/spec/env/DB_PASSWORD"]


def test_files_are_read_where_an_earlier_cd_moved_to() -> None:
    (_cd, apply) = parse_command("cd deploy/k8s && kubectl apply -f web.yaml").actions
    assert apply.cwd == "deploy/k8s" and unresolved_target(apply) is None
    (_cd, _cd2, again) = parse_command("cd deploy; cd k8s; kubectl apply -f web.yaml").actions
    assert again.cwd == "deploy/k8s"
    (_cd, back) = parse_command("cd - && kubectl apply -f web.yaml").actions
    assert unresolved_target(back) is not None
    (_cd, named) = parse_command("cd - && kubectl delete pod x --context kind-a").actions
    assert unresolved_target(named) is None  # no file to read: where it runs from does not matter
