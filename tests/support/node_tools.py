"""Node.js tools for e2e tests, installed from the npm registry and cached between runs.

The MCP conformance suite needs Node 22, newer than many machines' Node. npm publishes Node itself as the
`node` package, so `npm install node@22 <tool>` gives a private Node 22 and the tool in one directory under
~/.cache/cublab-integrations (or $CUBLAB_INTEGRATIONS_CACHE), named after the pinned packages: the first run
installs (a build under a lock, used only once its `ready` marker exists), later runs start at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL_TIMEOUT = 600.0


def cache_root() -> Path:
    """The same cache as the framework environments' (tests/integrations/envs.py)."""
    configured = os.environ.get("CUBLAB_INTEGRATIONS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "cublab-integrations"


class NodeUnavailable(Exception):
    """npm is missing or could not fetch the packages: the test skips, saying why."""


@dataclass(frozen=True)
class NodeTools:
    prefix: Path

    @property
    def node(self) -> Path:
        return self.prefix / "node_modules" / ".bin" / "node"

    def script(self, package: str, relative: str) -> Path:
        """A package's file, e.g. its CLI entry point, to run with `self.node`."""
        return self.prefix / "node_modules" / package / relative


def node_tools(*packages: str) -> NodeTools:
    """`packages` (pinned, e.g. "node@22.23.3") installed in one cached npm prefix."""
    digest = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]
    target = cache_root() / f"node-{digest}"
    if (target / "ready").exists():
        return NodeTools(target)
    npm = shutil.which("npm")
    if npm is None:
        raise NodeUnavailable("npm is not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "ready").exists():
            return NodeTools(target)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        try:
            done = subprocess.run(
                [npm, "install", "--prefix", str(target), "--no-audit", "--no-fund", *packages],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(target, ignore_errors=True)
            raise NodeUnavailable(f"npm install {' '.join(packages)} took over {INSTALL_TIMEOUT:.0f}s") from None
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise NodeUnavailable(f"npm could not install {' '.join(packages)}: {tail}")
        (target / "ready").write_text("ok\n")
    return NodeTools(target)
