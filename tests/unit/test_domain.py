"""The pure rules: durations, identities, ids, canonical hashing, policy loading."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

import pytest
import yaml

from cublab.domain.canonical import canonical_json, content_hash
from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import Forbidden, InvalidInput
from cublab.domain.identity import agent_identity, human_identity, parse_identity
from cublab.domain.ids import PREFIXES, is_id_of, new_id
from cublab.policies import load_policy

# ---- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),
        ("2h", 7200),
        ("7d", 604800),
        ("45s", 45),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1d12h", 129600),
        (" 2H ", 7200),
        ("1h 30m", 5400),
        ("72h", 259200),
        ("0h1s", 1),
    ],
)
def test_good_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not a duration"),
        ("  ", "not a duration"),
        ("0", "not a duration"),
        ("5", "not a duration"),
        ("h", "not a duration"),
        ("-1h", "not a duration"),
        ("1.5h", "not a duration"),
        ("2 hours", "not a duration"),
        ("1y", "not a duration"),
        ("PT2H", "not a duration"),
        ("2h-", "not a duration"),
        ("0h", "longer than zero"),
        ("0m0s", "longer than zero"),
    ],
)
def test_bad_durations_name_the_field(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_duration(text, "ttl")
    assert str(exc.value).startswith("ttl: ")
    assert says in str(exc.value)


def test_duration_of_wrong_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^ttl: expected a duration"):
        parse_duration(7200, "ttl")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5400, "1h30m"),
        (7200, "2h"),
        (259200, "72h"),
        (86400 + 1, "24h1s"),
        (604800, "7d"),
        (691200 + 60, "8d1m"),
        (0, "0s"),
    ],
)
def test_format_duration_is_exact_and_round_trips(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    if seconds:
        assert parse_duration(text) == timedelta(seconds=seconds)


# ---- identities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("agent:claude-code-session-abc123", "agent"),
        ("agent:pytest-session1", "agent"),
        ("agent:codex-1", "agent"),
        ("agent:my.bot-A.B_c", "agent"),
        ("human:alice", "human"),
        ("human:alice@example.com", "human"),
        ("human:Bob.Smith+ops", "human"),
        ("  human:carol  ", "human"),
    ],
)
def test_valid_identities(text: str, kind: str) -> None:
    identity = parse_identity(text)
    assert identity.kind == kind
    assert str(identity) == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "agent:",
        "agent:claude",
        "agent:-x",
        "agent:Claude-1",
        "agent:claude-",
        "human:",
        "human:-x",
        "human:al ice",
        "system:cublab",
        "robot:x-1",
        "agent:claude-" + "x" * 200,
        "human:" + "a" * 101,
        "AGENT:claude-1",
    ],
)
def test_invalid_identities_name_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_identity(text, "as")
    assert str(exc.value).startswith("as: ")
    assert "agent:<type>-<session>" in str(exc.value) and "human:<name>" in str(exc.value)


def test_agent_identity_refuses_humans() -> None:
    assert agent_identity("agent:claude-s1").is_agent
    with pytest.raises(Forbidden, match=r"^agent: .*human:alice"):
        agent_identity("human:alice")


def test_human_identity_refuses_agents() -> None:
    assert human_identity("human:alice").is_human
    with pytest.raises(Forbidden, match=r"^as: .*agent:claude-s1"):
        human_identity("agent:claude-s1")
    with pytest.raises(InvalidInput):
        human_identity("nobody")


# ---- ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PREFIXES))
def test_id_shape_and_prefix(kind: str) -> None:
    value = new_id(kind)
    prefix = PREFIXES[kind]
    assert value.startswith(prefix + "_") and len(value) == len(prefix) + 1 + 26
    assert set(value[len(prefix) + 1 :]) <= set("0123456789abcdefghjkmnpqrstvwxyz")
    assert is_id_of(kind, value)
    for other in PREFIXES:
        if PREFIXES[other] != prefix:
            assert not is_id_of(other, value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        12,
        "",
        "sbx_",
        "sbx_" + "0" * 25,
        "sbx_" + "0" * 27,
        "SBX_" + "0" * 26,
        "sbx-" + "0" * 26,
        "sbx_" + "0" * 25 + "!",
        " sbx_" + "0" * 26,
        "sbx_" + "0" * 26 + "\n",
    ],
)
def test_malformed_ids_are_rejected(value) -> None:
    assert not is_id_of("sandbox", value)


def test_ids_sort_in_creation_order() -> None:
    # Earlier milliseconds sort first, whatever the random part.
    assert new_id("sandbox", now_ms=1_000) < new_id("sandbox", now_ms=1_001) < new_id("sandbox", now_ms=2**40)
    # Many in the same millisecond still sort in the order they were made (monotonic within a process).
    made = [new_id("experiment") for _ in range(500)]
    assert made == sorted(made)
    assert len(set(made)) == 500


# ---- canonical hashing ---------------------------------------------------------------------


def test_canonical_json_ignores_key_order_and_whitespace() -> None:
    a = {"b": 1, "a": {"y": [1, {"q": 2, "p": 1}], "x": None}, "é": "ü"}
    b = {"é": "ü", "a": {"x": None, "y": [1, {"p": 1, "q": 2}]}, "b": 1}
    assert canonical_json(a) == canonical_json(b) == '{"a":{"x":null,"y":[1,{"p":1,"q":2}]},"b":1,"é":"ü"}'
    assert content_hash(a) == content_hash(b)
    assert content_hash(a).startswith("sha256:") and len(content_hash(a)) == 71


def test_content_hash_sees_every_difference() -> None:
    base = {"a": [1, 2], "b": "x"}
    for other in (
        {"a": [2, 1], "b": "x"},
        {"a": [1, 2], "b": "X"},
        {"a": [1, 2]},
        {"a": [1, 2], "b": "x", "c": None},
        {"a": [1, 2.5], "b": "x"},
        {"a": ["1", 2], "b": "x"},
    ):
        assert content_hash(other) != content_hash(base)


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


# ---- policy --------------------------------------------------------------------------------


def test_default_policy_validates() -> None:
    loaded = load_policy()
    assert loaded.policy.sandbox.default_ttl == timedelta(hours=24)
    assert loaded.policy.sandbox.max_ttl == timedelta(hours=72)
    assert loaded.policy.compare.min_samples >= 2
    assert 0.5 < loaded.policy.compare.confidence < 1
    assert loaded.digest.startswith("sha256:")


def write(tmp_path, edit=None) -> str:
    """The packaged policy with one edit applied, so these tests follow whatever sections the policy grows."""
    data = yaml.safe_load(resources.files("cublab.policies").joinpath("default.yaml").read_text())
    data["sandbox"] = {"default_ttl": "1h", "max_ttl": "2h"}
    if edit:
        edit(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_custom_policy_loads(tmp_path) -> None:
    loaded = load_policy(write(tmp_path))
    assert loaded.policy.sandbox.max_ttl == timedelta(hours=2)
    assert loaded.source.endswith("policy.yaml")


def _set(section: str, key: str, value):
    return lambda d: d[section].__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (_set("sandbox", "max_ttl", "forever"), "sandbox.max_ttl"),
        (_set("sandbox", "default_ttl", "0h"), "sandbox.default_ttl"),
        (_set("compare", "min_samples", 1), "compare.min_samples"),
        (_set("compare", "min_samples", "many"), "compare.min_samples"),
        (_set("compare", "confidence", 1.5), "compare.confidence"),
        (_set("sandbox", "default_ttl", "3h"), "default_ttl must not exceed sandbox.max_ttl"),
        (lambda d: d.pop("sandbox"), "sandbox"),
        (lambda d: d.__setitem__("approvers", 0), "approvers"),
        (lambda d: d.__setitem__("sandbox_typo", {}), "sandbox_typo"),
        (_set("sandbox", "maxttl", "9d"), "sandbox.maxttl"),
        (_set("compare", "confidense", 0.9), "compare.confidense"),
    ],
)
def test_invalid_policy_names_the_key(tmp_path, edit, key) -> None:
    with pytest.raises(InvalidInput) as exc:
        load_policy(write(tmp_path, edit))
    assert key in str(exc.value)
    assert str(exc.value).startswith("policy: ")


def test_missing_or_broken_policy_file(tmp_path) -> None:
    with pytest.raises(InvalidInput, match=r"^policy: cannot read"):
        load_policy(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("sandbox: [")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_policy(str(bad))
