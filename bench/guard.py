"""The guard's cost per tool call: in-process (decisions/s against the bare engine) and as a process
start (`cublab guard ...` wall time against `python -c pass`), measured in the same run.

In-process: `cublab.guard.check` on a local `kubectl apply` of a two-document manifest (parse, read the
file, two engine decisions, the secret gate, one decision-log row and its audit event) and on a
read-only `kubectl get` (parse, one row), against `decide()` on the same two ChangeFacts.
Process start: the installed `cublab guard --command ...` against `python -c pass`, interleaved,
medians; and which modules the guard's path imports (`python -X importtime`): never typer, rich or
the MCP SDK. No target is set by the issue; the figures say whether a guard fits every tool call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Verdicts, header, median, parse_args, spread

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: web, image: registry.example.com/web:1.4.2}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80}]}
"""
WRITE = "kubectl apply -f web.yaml --context kind-dev"
READ = "kubectl get pods -n shop --context prod"


def cublab_command() -> list[str]:
    script = shutil.which("cublab", path=str(Path(sys.executable).parent)) or shutil.which("cublab")
    return [script] if script else [sys.executable, "-m", "cublab"]


def in_process(tmp: Path, n: int) -> dict[str, float]:
    from cublab import guard
    from cublab.domain.bypass import decide
    from cublab.domain.guard import parse_command, plan_changes
    from cublab.domain.guard.changes import Source

    (tmp / "web.yaml").write_text(MANIFEST)
    db = str(tmp / "inproc.db")
    guard.check(WRITE, agent="agent:bench-guard1", db=db, cwd=str(tmp))  # open the database once
    policy = guard._runtime("agent:bench-guard1", db, None).policy.policy.bypass
    (action,) = parse_command(WRITE).actions
    changes, _ = plan_changes(action, {"web.yaml": Source(MANIFEST)}, None)
    facts = [c.facts for c in changes]
    out = {}
    start = time.perf_counter()
    for _ in range(n):
        for f in facts:
            decide(f, policy)
    out["engine"] = n / (time.perf_counter() - start)
    for label, command in (("guard write", WRITE), ("guard read", READ)):
        start = time.perf_counter()
        for _ in range(n):
            guard.check(command, agent="agent:bench-guard1", db=db, cwd=str(tmp))
        out[label] = n / (time.perf_counter() - start)
    guard.close()
    return out


def process_start(tmp: Path, runs: int) -> tuple[list[float], list[float], list[float]]:
    env = {**os.environ, "CUBLAB_DB": str(tmp / "proc.db"), "CUBLAB_AGENT": "agent:bench-guard1",
           "KUBECONFIG": str(tmp / "none")}  # fmt: skip
    guard_cmd = [*cublab_command(), "guard", "--command", WRITE]
    read_cmd = [*cublab_command(), "guard", "--command", READ]
    subprocess.run(guard_cmd, cwd=tmp, env=env, capture_output=True, check=False)  # create and migrate the db
    guard_times, read_times, bare = [], [], []
    for _ in range(runs):
        for cmd, times in ((guard_cmd, guard_times), (read_cmd, read_times), ([sys.executable, "-c", "pass"], bare)):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
    return guard_times, read_times, bare


def imports(tmp: Path) -> tuple[float, list[str], list[tuple[int, str]]]:
    env = {**os.environ, "CUBLAB_DB": str(tmp / "proc.db"), "CUBLAB_AGENT": "agent:bench-guard1"}
    probe = (
        "import sys; sys.argv=['cublab','guard','--command','kubectl get pods']\n"
        "from cublab.launcher import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', ','.join(sorted(m for m in ('typer','rich','mcp','click') if m in sys.modules)) or '-')"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe], env=env, capture_output=True, text=True, cwd=tmp
    )
    heavy = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("HEAVY")]
    top: list[tuple[int, str]] = []
    total = 0
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, raw = line.removeprefix("import time:").split("|")
            cumulative = cumulative.strip()
            if cumulative.isdigit():
                if not raw[1:].startswith(" "):  # a top-level import (nested ones are indented)
                    total += int(cumulative)
                top.append((int(cumulative), raw.strip()))
    top.sort(reverse=True)
    return total / 1e6, heavy, top[:6]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n, runs = (20, 2) if args.quick else (300, 10)
    header("bench/guard.py: the guard per tool call", args, decisions=n, process_runs=f"{runs} each, interleaved")
    with tempfile.TemporaryDirectory(prefix="cublab-bench-guard-") as name:
        tmp = Path(name)
        rates = in_process(tmp, n)
        guard_times, read_times, bare = process_start(tmp, runs)
        import_total, heavy, top = imports(tmp)
    print(f"  engine alone (2 decisions per command): {rates['engine']:,.0f} commands/s")
    print(f"  guard.check, local kubectl apply (2 documents): {rates['guard write']:,.0f} decisions/s "
          f"({1000 / rates['guard write']:.2f} ms; {rates['engine'] / rates['guard write']:.0f}x the engine)")  # fmt: skip
    print(
        f"  guard.check, read-only kubectl get: {rates['guard read']:,.0f} decisions/s ({1000 / rates['guard read']:.2f} ms)"
    )
    g, r, b = median(guard_times), median(read_times), median(bare)
    print(f"  process: cublab guard (apply) median {g * 1000:.0f} ms ({spread([x * 1000 for x in guard_times])})")
    print(f"  process: cublab guard (get) median {r * 1000:.0f} ms ({spread([x * 1000 for x in read_times])})")
    print(
        f"  process: python -c pass median {b * 1000:.0f} ms ({spread([x * 1000 for x in bare])}); ratio {g / b:.1f}x"
    )
    print(f"  imports on the guard path: {import_total:.2f} s cumulative (top-level); heaviest:")
    for micro, module in top:
        print(f"    {micro / 1000:8.0f} ms  {module}")
    verdicts = Verdicts(args)
    verdicts.check("no typer, rich or MCP SDK on the guard path", heavy == ["-"], f"loaded: {heavy}")
    verdicts.check(
        "an in-process decision under 10 ms", 1000 / rates["guard write"] < 10, f"{1000 / rates['guard write']:.2f} ms"
    )
    verdicts.exit()


if __name__ == "__main__":
    main()
