"""The reviewers whose SSH keys may sign decisions: the allowed-signers file.

The file is the one `ssh-keygen -Y verify` reads (see ALLOWED SIGNERS in
ssh-keygen(1)); cublab writes one line per key, limited to the
`cublab-decision` namespace. A key belongs to one human: adding a key already
listed for someone else is refused, so two names cannot share one key. Every
change is recorded in the audit log with the key's fingerprint.

The file is trusted as the list of reviewers: keep it where agents cannot write
(CUBLAB_ALLOWED_SIGNERS may point at a file owned by another account, or one
kept in a reviewed repository).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cublab.app.context import AppContext
from cublab.domain.errors import Conflict, Forbidden, NotFound
from cublab.domain.identity import Identity
from cublab.domain.signatures import AllowedSigner, allowed_signer_line, parse_allowed_signers, parse_public_key


@dataclass(frozen=True)
class Reviewer:
    identity: str
    key_type: str
    fingerprint: str
    comment: str


def _require_human(who: Identity) -> None:
    if not who.is_human:
        raise Forbidden(f"as: reviewers are managed by humans; {who} is not 'human:<name>'")


class Reviewers:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def path(self) -> Path:
        return self.ctx.allowed_signers

    def _entries(self) -> list[AllowedSigner]:
        return parse_allowed_signers(self.path.read_text()) if self.path.is_file() else []

    def registered(self) -> list[Reviewer]:
        return [
            Reviewer(name, e.key.key_type, e.key.fingerprint, e.key.comment)
            for e in self._entries()
            if e.key is not None
            for name in e.principals
        ]

    def add(self, reviewer: Identity, public_key: str, who: Identity) -> Reviewer:
        _require_human(who)
        if not reviewer.is_human:
            raise Forbidden(f"reviewer: only humans review; {reviewer} is not 'human:<name>'")
        key = parse_public_key(public_key, "public key")
        for entry in self._entries():
            if entry.key is not None and entry.key.blob == key.blob:
                if entry.principals == (reviewer.value,):
                    return Reviewer(reviewer.value, key.key_type, key.fingerprint, key.comment)  # already there
                raise Conflict(
                    f"public key: {key.fingerprint} is already registered for {', '.join(entry.principals)} in "
                    f"{self.path}; one key belongs to one person (make another with `ssh-keygen -t ed25519`)"
                )
        line = allowed_signer_line(reviewer.value, key)
        with self.ctx.db.write() as session:
            self.ctx.record(
                session,
                who,
                "reviewer.add",
                "reviewer",
                reviewer.value,
                details={"fingerprint": key.fingerprint, "key_type": key.key_type, "file": str(self.path)},
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existing = self.path.read_text() if self.path.is_file() else ""
            separator = "" if not existing or existing.endswith("\n") else "\n"
            self._write(existing + separator + line + "\n")
        return Reviewer(reviewer.value, key.key_type, key.fingerprint, key.comment)

    def remove(self, reviewer: Identity, who: Identity, fingerprint: str | None = None) -> list[str]:
        """Remove the reviewer's keys (or the one with `fingerprint`); the fingerprints removed."""
        _require_human(who)
        if not self.path.is_file():
            raise NotFound(f"reviewer: {self.path} does not exist; no reviewer is registered")
        kept: list[str] = []
        removed: list[str] = []
        for raw in self.path.read_text().splitlines():
            entries = parse_allowed_signers(raw)
            entry = entries[0] if entries else None
            if (
                entry is not None
                and reviewer.value in entry.principals
                and (fingerprint is None or (entry.key is not None and entry.key.fingerprint == fingerprint))
            ):
                if entry.principals != (reviewer.value,):
                    raise Conflict(
                        f"reviewer: a line of {self.path} lists {reviewer} with others ({', '.join(entry.principals)}); "
                        "edit that line by hand"
                    )
                removed.append(entry.key.fingerprint if entry.key else "(unreadable key)")
                continue
            kept.append(raw)
        if not removed:
            raise NotFound(f"reviewer: {reviewer} has no{' such' if fingerprint else ''} key in {self.path}")
        with self.ctx.db.write() as session:
            self.ctx.record(
                session,
                who,
                "reviewer.remove",
                "reviewer",
                reviewer.value,
                details={"fingerprints": removed, "file": str(self.path)},
            )
            self._write("".join(line + "\n" for line in kept))
        return removed

    def _write(self, text: str) -> None:
        """Replace the file atomically (a reader never sees half a file), readable by all, writable by its owner."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)
