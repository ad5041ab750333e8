"""Where the key and the witness live: beside each other, outside the data directory, movable by environment."""

from __future__ import annotations

from cublab.store.audit_key import KEY_FILE_ENV, WITNESS_ENV, default_key_path, default_witness_path, key_path


def test_the_witness_lives_beside_the_key_file_in_use(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(WITNESS_ENV, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "keys" / "audit.key"))
    assert key_path() == tmp_path / "keys" / "audit.key"
    one, two = default_witness_path("/data/a.db"), default_witness_path("/data/b.db")
    assert one.parent == tmp_path / "keys" / "witness" and one != two, "one witness per database"
    assert default_witness_path("/data/a.db") == one, "stable for the same database"


def test_the_witness_can_be_named_outright(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(WITNESS_ENV, str(tmp_path / "w.jsonl"))
    assert default_witness_path("/data/a.db") == tmp_path / "w.jsonl"


def test_by_default_the_key_is_under_the_user_config_dir_not_the_data_dir(monkeypatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    from cublab.config import default_db_path

    assert key_path() == default_key_path()
    assert default_key_path().parent != default_db_path().parent, "copying the data directory does not copy the key"
