"""One virtual environment per framework, as its users have it, cached between runs.

Each framework's tested versions are pinned in `requirements-<framework>.txt` beside this file.
The environment lives under ~/.cache/cublab-integrations (or $CUBLAB_INTEGRATIONS_CACHE) in a
directory named after the framework and the pin file's hash: changing a pin builds a new one, an
unchanged pin file reuses it (the first run installs, later runs start at once). A build happens
under a lock, so parallel test workers wait for one build instead of racing; an environment is
only used once its `ready` marker exists, so a half-built one is never taken for a good one.

`python tests/integrations/envs.py [framework ...]` builds them ahead of a test run (CI caches the directory).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
FRAMEWORKS = ("langchain", "openai-agents", "pydantic-ai", "fastmcp", "llama-index", "gemini")
INSTALL_TIMEOUT = 900.0


class EnvUnavailable(Exception):
    """The framework could not be installed here (no index, no wheel for this Python): the test skips, saying why."""


def pins(framework: str) -> Path:
    return HERE / f"requirements-{framework}.txt"


def cache_root() -> Path:
    configured = os.environ.get("CUBLAB_INTEGRATIONS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "cublab-integrations"


def env_dir(framework: str) -> Path:
    digest = hashlib.sha256(pins(framework).read_bytes()).hexdigest()[:16]
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return cache_root() / f"{framework}-{py}-{digest}"


def python_of(framework: str) -> Path:
    """The framework environment's interpreter, building the environment first if it is missing."""
    target = env_dir(framework)
    python = target / "bin" / "python"
    if (target / "ready").exists():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "ready").exists():
            return python
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=INSTALL_TIMEOUT)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(pins(framework))],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        if install.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            tail = "\n".join((install.stderr or install.stdout).strip().splitlines()[-5:])
            raise EnvUnavailable(f"pip could not install {pins(framework).name}: {tail}")
        (target / "ready").write_text("ok\n")
    return python


if __name__ == "__main__":
    for name in sys.argv[1:] or FRAMEWORKS:
        print(name, python_of(name), flush=True)
