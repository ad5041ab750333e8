"""Signed decisions, the parts that are pure: what a reviewer signs, and reading
what `ssh-keygen` writes (SSHSIG signatures, public keys, allowed-signers lines).

A decision in a space the policy marks (`promotion.signed_decision_tiers`) is
signed with the reviewer's SSH key, the convention of `ssh-keygen -Y sign` and
git: the reviewer signs `decision_message(...)` under the namespace
`cublab-decision`, and the use case checks the signature with
`ssh-keygen -Y verify` against an allowed-signers file that maps each
`human:<name>` to its keys. Verification runs a program, so it lives in the use
cases; this module only builds the message and parses the formats (see
OpenSSH's PROTOCOL.sshsig and the ALLOWED SIGNERS section of ssh-keygen(1)).
The key fingerprint read here is what quorum counts: two approvals need two keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cublab.domain.errors import InvalidInput

NAMESPACE = "cublab-decision"
MESSAGE_VERSION = "cublab-decision-v1"
_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"
_MAGIC = b"SSHSIG"
_KEY_TYPE = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)(-cert-v01@openssh\.com)?$"
)
MAX_SIGNATURE_CHARS = 16_000


def decision_message(*, proposal_id: str, decision: str, actor: str, reason: str, patch_digest: str) -> bytes:
    """The exact bytes a reviewer signs for one decision on one proposal.

    It binds the proposal, the decision, the (folded) human, the reason and the
    proposed change, so a signature cannot be moved to another proposal, another
    decision, another name or another patch.
    """
    lines = [
        MESSAGE_VERSION,
        f"proposal: {proposal_id}",
        f"decision: {decision}",
        f"actor: {actor}",
        f"reason-sha256: {hashlib.sha256(reason.encode('utf-8')).hexdigest()}",
        f"patch: {patch_digest}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def fingerprint(public_key_blob: bytes) -> str:
    """The key's fingerprint as `ssh-keygen -l` prints it: `SHA256:<unpadded base64>`."""
    digest = hashlib.sha256(public_key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    blob: bytes
    comment: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    @property
    def text(self) -> str:
        """`<type> <base64>`, as in a .pub file without its comment."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"


@dataclass(frozen=True)
class SshSignature:
    public_key: PublicKey
    namespace: str
    hash_algorithm: str
    signature_type: str

    @property
    def fingerprint(self) -> str:
        return self.public_key.fingerprint


class _Reader:
    """SSH wire format: uint32 lengths, big-endian."""

    def __init__(self, data: bytes, field: str) -> None:
        self.data, self.pos, self.field = data, 0, field

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise InvalidInput(f"{self.field}: truncated SSH data")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self) -> bytes:
        return self.take(self.uint32())

    def text(self) -> str:
        raw = self.string()
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidInput(f"{self.field}: a name in the SSH data is not ASCII") from None

    @property
    def done(self) -> bool:
        return self.pos == len(self.data)


def _key_from_blob(blob: bytes, field: str, comment: str = "") -> PublicKey:
    key_type = _Reader(blob, field).text()
    if not _KEY_TYPE.match(key_type):
        raise InvalidInput(f"{field}: {key_type[:40]!r} is not an SSH public key type")
    return PublicKey(key_type, blob, comment)


def _b64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field}: not valid base64") from None


def parse_sshsig(armored: str, field: str = "signature") -> SshSignature:
    """Read an armored SSHSIG signature (`ssh-keygen -Y sign` output); InvalidInput names `field` if malformed."""
    if len(armored) > MAX_SIGNATURE_CHARS:
        raise InvalidInput(f"{field}: longer than {MAX_SIGNATURE_CHARS} characters; not an SSH signature")
    text = armored.strip()
    if not (text.startswith(_ARMOR_BEGIN) and text.endswith(_ARMOR_END)):
        raise InvalidInput(f"{field}: not an SSH signature (expected {_ARMOR_BEGIN} ... {_ARMOR_END})")
    body = "".join(text[len(_ARMOR_BEGIN) : -len(_ARMOR_END)].split())
    reader = _Reader(_b64(body, field), field)
    if reader.take(6) != _MAGIC:
        raise InvalidInput(f"{field}: not an SSHSIG blob (bad magic)")
    version = reader.uint32()
    if version != 1:
        raise InvalidInput(f"{field}: SSHSIG version {version} is not supported (expected 1)")
    key = _key_from_blob(reader.string(), field)
    namespace = reader.text()
    reader.string()  # reserved
    hash_algorithm = reader.text()
    signature = _Reader(reader.string(), field)
    signature_type = signature.text()
    signature.string()
    if not reader.done:
        raise InvalidInput(f"{field}: trailing data after the SSHSIG signature")
    return SshSignature(key, namespace, hash_algorithm, signature_type)


def parse_public_key(text: str, field: str = "public key") -> PublicKey:
    """Read one OpenSSH public key line (`<type> <base64> [comment]`, as in `id_ed25519.pub`)."""
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise InvalidInput(f"{field}: expected one OpenSSH public key line ('ssh-ed25519 AAAA... comment')")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not _KEY_TYPE.match(parts[0]):
        raise InvalidInput(
            f"{field}: expected '<key type> <base64> [comment]', e.g. the contents of ~/.ssh/id_ed25519.pub"
        )
    if parts[0].endswith("-cert-v01@openssh.com"):
        raise InvalidInput(f"{field}: certificates are not accepted; register the plain public key")
    key = _key_from_blob(_b64(parts[1], field), field, parts[2].strip() if len(parts) > 2 else "")
    if key.key_type != parts[0]:
        raise InvalidInput(f"{field}: the line says {parts[0]} but the key inside is {key.key_type}")
    return key


# ---- the allowed-signers file ------------------------------------------------------------


@dataclass(frozen=True)
class AllowedSigner:
    principals: tuple[str, ...]
    options: str
    key: PublicKey | None  # None when the line's key could not be read (kept as is, never matched)
    line: str


def allowed_signer_line(identity: str, key: PublicKey) -> str:
    """One allowed-signers line: `identity` may sign cublab decisions with `key`."""
    comment = f" {key.comment}" if key.comment and "\n" not in key.comment else ""
    return f'{identity} namespaces="{NAMESPACE}" {key.text}{comment}'


def _token(line: str, pos: int) -> tuple[str, int]:
    """The next whitespace-delimited token, where double quotes protect whitespace."""
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    start, quoted = pos, False
    while pos < len(line) and (quoted or line[pos] not in " \t"):
        if line[pos] == '"':
            quoted = not quoted
        pos += 1
    return line[start:pos], pos


def parse_allowed_signers(text: str) -> list[AllowedSigner]:
    """The entries of an allowed-signers file (comments and blank lines skipped)."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        principals, pos = _token(line, 0)
        options = ""
        token, after = _token(line, pos)
        if not _KEY_TYPE.match(token):
            options, pos = token, after
        rest = line[pos:].strip()
        try:
            key: PublicKey | None = parse_public_key(rest, "allowed signers")
        except InvalidInput:
            key = None
        names = tuple(p.strip('"') for p in principals.strip('"').split(",") if p)
        entries.append(AllowedSigner(names, options, key, line))
    return entries
