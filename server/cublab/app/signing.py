"""Who is really deciding: the OS account that runs the CLI, and signatures by reviewers' SSH keys.

A typed `--as human:<name>` is a claim. Each decision also records the OS
account of the process that makes it (read from the process's uid, not from
`$USER`), and in the spaces the policy marks (`promotion.signed_decision_tiers`,
production by default) a signature over `domain.signatures.decision_message`
made with the reviewer's SSH key (`ssh-keygen -Y sign -n cublab-decision`),
checked here with `ssh-keygen -Y verify` against the allowed-signers file that
maps each `human:<name>` to its keys (`cublab reviewers`). Quorum then counts
one vote per name, per OS account and per key (domain/proposals.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from cublab.domain.errors import Conflict, Forbidden, InvalidInput
from cublab.domain.signatures import NAMESPACE, SshSignature, parse_sshsig

SSH_KEYGEN_TIMEOUT = 20.0


def current_os_account() -> str:
    """`<login>(uid <n>)@<host>` of this process, from its uid (environment variables are not consulted)."""
    host = socket.gethostname() or "localhost"
    try:
        import pwd

        uid = os.getuid()
        return f"{pwd.getpwuid(uid).pw_name}(uid {uid})@{host}"
    except (ImportError, KeyError, AttributeError):  # no pwd (Windows), or a uid without a passwd entry
        import getpass

        return f"{getpass.getuser()}@{host}"


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise Conflict(
            "sign-with: ssh-keygen (OpenSSH 8.2 or newer) is not on PATH; signed decisions need it to sign and verify"
        )
    return found


def sign(message: bytes, key: Path) -> str:
    """Sign `message` with the SSH key at `key` (a private key, or a public key whose private half ssh-agent holds)."""
    if not key.exists():
        raise InvalidInput(f"sign-with: no key file {key}; create one with `ssh-keygen -t ed25519`")
    done = subprocess.run(
        [ssh_keygen(), "-Y", "sign", "-q", "-n", NAMESPACE, "-f", str(key)],
        input=message,
        capture_output=True,
        timeout=SSH_KEYGEN_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[:300]
        raise InvalidInput(f"sign-with: ssh-keygen could not sign with {key}: {detail}")
    return done.stdout.decode("ascii", "replace")


def verify(message: bytes, signature: str, identity: str, allowed_signers: Path) -> SshSignature:
    """Check that `identity` signed `message` with a key the allowed-signers file lists for it; its parsed signature."""
    parsed = parse_sshsig(signature, "signature")
    if parsed.namespace != NAMESPACE:
        raise Forbidden(
            f"signature: made for namespace {parsed.namespace!r}, not {NAMESPACE!r}; sign with `--sign-with`"
        )
    register = f"register the public key with `cublab reviewers add {identity} <key>.pub`"
    if not allowed_signers.is_file():
        raise Forbidden(f"signature: the allowed-signers file {allowed_signers} does not exist; {register}")
    with tempfile.TemporaryDirectory(prefix="cublab-sig-") as tmp:
        sig_file = Path(tmp) / "decision.sig"
        sig_file.write_text(signature)
        done = subprocess.run(
            [
                ssh_keygen(),
                "-Y",
                "verify",
                "-f",
                str(allowed_signers),
                "-I",
                identity,
                "-n",
                NAMESPACE,
                "-s",
                str(sig_file),
            ],
            input=message,
            capture_output=True,
            timeout=SSH_KEYGEN_TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        raise Forbidden(
            f"signature: key {parsed.fingerprint} is not an allowed signer for {identity} in {allowed_signers}, "
            f"or the signature does not match this decision; {register}, and sign as that person"
        )
    return parsed
