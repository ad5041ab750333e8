"""The audit key and the witness file, on their own (no database)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from cublab.domain.errors import InvalidInput
from cublab.store.audit_key import KEY_ENV, Witness, load_key


def test_a_new_key_file_is_private(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "keys" / "audit.key"
    key = load_key(path)
    assert key is not None and len(key.secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == key, "the same file gives the same key"


def test_a_key_others_can_read_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "audit.key"
    load_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        load_key(path)


def test_a_key_from_the_environment_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    key = load_key(tmp_path / "unused.key")
    assert key is not None and key.secret == bytes.fromhex("ab" * 32) and not (tmp_path / "unused.key").exists()
    assert "ab" * 32 not in repr(key)
    monkeypatch.setenv(KEY_ENV, "too-short")
    with pytest.raises(InvalidInput, match="32 random bytes"):
        load_key()


def test_no_key_file_and_no_creation_is_none(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert load_key(tmp_path / "missing.key", create=False) is None


def test_macs_depend_on_the_key_and_the_hash(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    one, two = load_key(tmp_path / "1.key"), load_key(tmp_path / "2.key")
    assert one is not None and two is not None
    assert one.mac_ok("sha256:aa", one.mac("sha256:aa"))
    assert not one.mac_ok("sha256:ab", one.mac("sha256:aa"))
    assert not two.mac_ok("sha256:aa", one.mac("sha256:aa"))
    assert not one.mac_ok("sha256:aa", None)


def test_witness_checkpoints_verify_and_forgeries_do_not(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    key, other = load_key(tmp_path / "k"), load_key(tmp_path / "other")
    assert key is not None and other is not None
    witness = Witness(tmp_path / "w" / "witness.jsonl")
    witness.append(key, 1, "sha256:01", "2026-01-01T00:00:00Z")
    witness.append(key, 2, "sha256:02", "2026-01-01T00:00:01Z")
    witness.append(other, 3, "sha256:03", "2026-01-01T00:00:02Z")  # signed with another key
    with witness.path.open("a") as out:
        out.write("not json\n")
        forged = json.loads(witness.path.read_text().splitlines()[1])
        forged["seq"] = 9
        out.write(json.dumps(forged) + "\n")  # a real signature moved onto another seq
    got = list(witness.checkpoints(key))
    assert [(c.seq, c.valid) for c in got] == [(1, True), (2, True), (-1, False), (-1, False), (-1, False)]
    assert stat.S_IMODE(witness.path.stat().st_mode) == 0o600
