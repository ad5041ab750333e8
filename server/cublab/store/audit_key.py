"""The audit key and the witness: what someone who can write the database does not hold.

A hash chain alone proves nothing to a database writer's victim: whoever can
write the file can recompute every hash. So each event also carries a MAC made
with a key kept outside the database (a 0600 key file, or a key injected
through the environment by a secrets manager), and the chain's head is
checkpointed outside the database too: every committed transaction appends an
Ed25519-signed checkpoint `(seq, hash)` to a witness file. The signing key is
derived from the audit key, so the witness's public key can be handed to anyone
who should check the log without being able to write it.

What each piece stops (docs/threat-model.md says the same in words):
- the MAC: editing, inserting or appending events, and recomputing the chain;
- the witness: deleting the newest events, moving the head back, wiping the log.
A writer who holds the key (the server process does) can do all of these; the
key is what must be kept from agents and database writers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cublab.domain.errors import InvalidInput

if TYPE_CHECKING:  # cryptography is imported where a checkpoint is signed or checked, not to load the key
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_ENV = "CUBLAB_AUDIT_KEY"
KEY_FILE_ENV = "CUBLAB_AUDIT_KEY_FILE"
WITNESS_ENV = "CUBLAB_AUDIT_WITNESS"
KEY_BYTES = 32
MAC_PREFIX = "hmac-sha256:"
_EVENT_CONTEXT = b"cublab audit event v1\x00"
_SIGNING_CONTEXT = b"cublab audit checkpoint signing key v1"
_CHECKPOINT_CONTEXT = "cublab-checkpoint-v1"


def default_key_path() -> Path:
    """Outside the data directory: copying or backing up the database does not carry the key."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("cublab", appauthor=False)) / "audit.key"


def key_path() -> Path:
    """The key file in use: $CUBLAB_AUDIT_KEY_FILE, else the default under the user's config directory."""
    return Path(os.environ.get(KEY_FILE_ENV) or default_key_path()).expanduser()


def default_witness_path(database_location: str, key_file: Path | None = None) -> Path:
    """One witness per database, kept beside the key file rather than beside the database file.

    $CUBLAB_AUDIT_WITNESS names the file outright (for a database that moved, or a
    witness on another disk); otherwise it is `witness/<digest of the location>.jsonl`
    in the key file's directory, so each database has its own and a test that
    points the key file elsewhere moves the witnesses with it.
    """
    override = os.environ.get(WITNESS_ENV)
    if override:
        return Path(override).expanduser()
    digest = hashlib.sha256(database_location.encode("utf-8")).hexdigest()[:16]
    return (key_file or key_path()).parent / "witness" / f"{digest}.jsonl"


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    source: str

    def mac(self, event_hash: str) -> str:
        """Authenticates an event through its hash, which already covers every field and the previous link."""
        digest = hmac.new(self.secret, _EVENT_CONTEXT + event_hash.encode("ascii"), hashlib.sha256).hexdigest()
        return MAC_PREFIX + digest

    def mac_ok(self, event_hash: str, mac: str | None) -> bool:
        return mac is not None and hmac.compare_digest(self.mac(event_hash), mac)

    @cached_property
    def _signing_key(self) -> Ed25519PrivateKey:
        """Derived once per key: every committed transaction signs a checkpoint."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        seed = hmac.new(self.secret, _SIGNING_CONTEXT, hashlib.sha256).digest()
        return Ed25519PrivateKey.from_private_bytes(seed)

    def public_key(self) -> Ed25519PublicKey:
        return self._signing_key.public_key()

    def public_key_text(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = self.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return "ed25519:" + base64.b64encode(raw).decode("ascii")

    def sign_checkpoint(self, seq: int, event_hash: str, at: str) -> dict[str, str | int]:
        signature = self._signing_key.sign(_checkpoint_message(seq, event_hash, at))
        return {"seq": seq, "hash": event_hash, "at": at, "sig": base64.b64encode(signature).decode("ascii")}


def _checkpoint_message(seq: int, event_hash: str, at: str) -> bytes:
    return f"{_CHECKPOINT_CONTEXT}|{seq}|{event_hash}|{at}".encode()


def _parse_key(text: str, source: str) -> AuditKey:
    value = text.strip()
    raw: bytes | None = None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raw = None
    if raw is None or len(raw) != KEY_BYTES:
        raise InvalidInput(f"audit key: {source} must hold {KEY_BYTES} random bytes as hex or base64")
    return AuditKey(raw, source)


def load_key(path: Path | None = None, *, create: bool = True) -> AuditKey | None:
    """The key from CUBLAB_AUDIT_KEY, else from the key file (created with 0600 when `create`).

    A key file that others can read is refused, as ssh refuses such a private key:
    a key anyone can read authenticates nothing.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return _parse_key(env, f"${KEY_ENV}")
    path = path or key_path()
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: read theirs
            return load_key(path, create=False)
        with os.fdopen(fd, "w") as out:
            out.write(os.urandom(KEY_BYTES).hex() + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InvalidInput(
            f"audit key: {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}` and start again"
        )
    return _parse_key(path.read_text(encoding="ascii"), str(path))


@dataclass(frozen=True)
class Checkpoint:
    line: int
    seq: int
    hash: str
    at: str
    valid: bool  # the signature verifies with the audit key's public key


@dataclass(frozen=True)
class Witness:
    """An append-only file of signed checkpoints; each line is one JSON object."""

    path: Path

    def append(self, key: AuditKey, seq: int, event_hash: str, at: str) -> None:
        """One write with O_APPEND: lines from concurrent writers never interleave."""
        line = (json.dumps(key.sign_checkpoint(seq, event_hash, at), separators=(",", ":")) + "\n").encode("ascii")
        try:  # opened per line, so a witness moved or deleted under a running server is noticed, not written blind
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def exists(self) -> bool:
        return self.path.exists()

    def checkpoints(self, key: AuditKey) -> Iterator[Checkpoint]:
        """Every line, each judged against the key; a malformed line is an invalid checkpoint."""
        if not self.path.exists():
            return
        public = key.public_key()
        with self.path.open("r", encoding="utf-8", errors="replace") as lines:
            for number, text in enumerate(lines, start=1):
                if text.strip():
                    yield _judge(public, number, text)

    def newest(self, key: AuditKey, lines: int = 64) -> Checkpoint | None:
        """The valid checkpoint with the highest seq among the last `lines` lines, reading only the file's end.

        Concurrent writers may append out of order, hence the highest seq rather
        than the last line. For checks that run on every apply; `checkpoints`
        reads the whole file. Line numbers here count from the end (-1 is the last).
        """
        if not self.path.exists():
            return None
        with self.path.open("rb") as raw:
            size = raw.seek(0, os.SEEK_END)
            raw.seek(max(0, size - lines * 320))
            tail = raw.read().decode("utf-8", errors="replace").splitlines()
        if size > lines * 320:
            tail = tail[1:]  # the first may be a partial line
        public = key.public_key()
        judged = [_judge(public, -n, text) for n, text in enumerate(reversed(tail[-lines:]), start=1) if text.strip()]
        valid = [c for c in judged if c.valid]
        return max(valid, key=lambda c: c.seq) if valid else None


def _judge(public: Ed25519PublicKey, number: int, text: str) -> Checkpoint:
    from cryptography.exceptions import InvalidSignature

    try:
        row = json.loads(text)
        seq, event_hash, at, sig = int(row["seq"]), str(row["hash"]), str(row["at"]), str(row["sig"])
        public.verify(base64.b64decode(sig, validate=True), _checkpoint_message(seq, event_hash, at))
    except (ValueError, KeyError, TypeError, InvalidSignature):
        return Checkpoint(number, -1, "", "", valid=False)
    return Checkpoint(number, seq, event_hash, at, valid=True)
