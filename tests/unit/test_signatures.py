"""Signed decisions, the pure parts: the message a reviewer signs, and reading what
ssh-keygen writes. The fixtures were made with OpenSSH 9.2 (`ssh-keygen -t ed25519`,
`ssh-keygen -Y sign -n cublab-decision`) and their fingerprints read with `ssh-keygen -l`."""

from __future__ import annotations

import base64

import pytest

from cublab.domain.errors import InvalidInput
from cublab.domain.signatures import (
    NAMESPACE,
    allowed_signer_line,
    decision_message,
    parse_allowed_signers,
    parse_public_key,
    parse_sshsig,
)

CAROL_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK3SgAPomLZ/yFJjbS5oPJKCtqxdw4cscCPkLS0llGwX carol@example"
CAROL_FP = "SHA256:D8Q7LgXEV1IBLvZ9+5xbgh2CY1QkeFI2YL2nHVLxg3w"
DAVE_PUB = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIDSnIXYfr3D0uJhvBY0+Rq7R3j/"
    "bBBd7L7oSVQoC5zzc4s6vwLJmXE+NB2htoci4NhEYpFDKsmdWNoOJg4oaBc= dave"
)
DAVE_FP = "SHA256:VDeMe4zS774H0MuWxJ0cmmV7O1xBEu7C0zWVN1NwSqM"
CAROL_SIG = """-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgrdKAA+iYtn/IUmNtLmg8koK2rF
3DhyxwI+QtLSWUbBcAAAAPY3VibGFiLWRlY2lzaW9uAAAAAAAAAAZzaGE1MTIAAABTAAAA
C3NzaC1lZDI1NTE5AAAAQKCWS8XRi2grPyHZ3YtMGSniI7L/fI7pP011MomfDHVJ7EbTYL
dxNpUOgVOr7F1iL9yIO28Hh0FL0NubmmC7Wwg=
-----END SSH SIGNATURE-----
"""
DAVE_SIG_OTHER_NAMESPACE = """-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAAGgAAAATZWNkc2Etc2hhMi1uaXN0cDI1NgAAAAhuaXN0cDI1NgAAAE
EEgNKchdh+vcPS4mG8FjT5GrtHeP9sEF3svuhJVCgLnPNzizq/AsmZcT40HaG2hyLg2ERi
kUMqyZ1Y2g4mDihoFwAAAAVvdGhlcgAAAAAAAAAGc2hhNTEyAAAAZAAAABNlY2RzYS1zaG
EyLW5pc3RwMjU2AAAASQAAACEA4t/lqijqxDi4bjC9MjvsPhRsdNgBRgu5tcLguH4RXL4A
AAAgXMBHA1CRkz/vbbqSj4VFoxRap5pMl/Ze79TWMbwZdRI=
-----END SSH SIGNATURE-----
"""


def test_an_ed25519_signature_names_its_key_namespace_and_hash() -> None:
    sig = parse_sshsig(CAROL_SIG)
    assert sig.namespace == NAMESPACE == "cublab-decision"
    assert sig.hash_algorithm == "sha512" and sig.signature_type == "ssh-ed25519"
    assert sig.public_key.key_type == "ssh-ed25519"
    assert sig.fingerprint == CAROL_FP == parse_public_key(CAROL_PUB).fingerprint


def test_an_ecdsa_signature_in_another_namespace_is_read_as_such() -> None:
    sig = parse_sshsig(DAVE_SIG_OTHER_NAMESPACE)
    assert sig.namespace == "other" and sig.fingerprint == DAVE_FP
    assert sig.public_key.key_type == "ecdsa-sha2-nistp256"


def _rearmor(blob: bytes) -> str:
    return "-----BEGIN SSH SIGNATURE-----\n" + base64.b64encode(blob).decode() + "\n-----END SSH SIGNATURE-----\n"


def _blob() -> bytes:
    body = "".join(CAROL_SIG.strip().splitlines()[1:-1])
    return base64.b64decode(body)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not an SSH signature"),
        ("hello", "not an SSH signature"),
        ("-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----", "base64"),
        (_rearmor(b"NOTSIG" + _blob()[6:]), "bad magic"),
        (_rearmor(_blob()[:6] + (2).to_bytes(4, "big") + _blob()[10:]), "version 2"),
        (_rearmor(_blob()[:40]), "truncated"),
        (_rearmor(_blob() + b"x"), "trailing data"),
        ("x" * 20_000, "longer than"),
    ],
)
def test_malformed_signatures_are_refused_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_sshsig(text, "--sign-with")
    assert str(exc.value).startswith("--sign-with: ") and says in str(exc.value)


def test_public_keys_are_read_from_pub_files() -> None:
    key = parse_public_key(CAROL_PUB + "\n")
    assert key.key_type == "ssh-ed25519" and key.comment == "carol@example" and key.fingerprint == CAROL_FP
    assert parse_public_key(DAVE_PUB).fingerprint == DAVE_FP


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "ssh-ed25519 !!!",
        CAROL_PUB + "\n" + DAVE_PUB,  # two keys
        "ssh-rsa " + CAROL_PUB.split()[1],  # the type line lies about the key inside
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----",
    ],
)
def test_what_is_not_one_public_key_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^key: "):
        parse_public_key(text, "key")


def test_allowed_signers_lines_round_trip() -> None:
    carol, dave = parse_public_key(CAROL_PUB), parse_public_key(DAVE_PUB)
    text = "\n".join(
        [
            "# reviewers for cublab decisions",
            allowed_signer_line("human:carol", carol),
            "",
            allowed_signer_line("human:dave", dave),
            '"human:erin,human:frank" ssh-ed25519 ' + CAROL_PUB.split()[1],
            "human:broken ssh-ed25519 notbase64!",
        ]
    )
    assert allowed_signer_line("human:carol", carol) == (f'human:carol namespaces="cublab-decision" {CAROL_PUB}')
    entries = parse_allowed_signers(text)
    assert [e.principals for e in entries] == [
        ("human:carol",),
        ("human:dave",),
        ("human:erin", "human:frank"),
        ("human:broken",),
    ]
    assert entries[0].options == 'namespaces="cublab-decision"' and entries[0].key is not None
    assert (
        entries[0].key.fingerprint == CAROL_FP and entries[1].key is not None and entries[1].key.fingerprint == DAVE_FP
    )
    assert entries[2].options == "" and entries[2].key is not None
    assert entries[3].key is None


def test_the_decision_message_binds_proposal_decision_actor_reason_and_patch() -> None:
    base = dict(proposal_id="prop_1", decision="approve", actor="human:carol", reason="ok", patch_digest="sha256:aa")
    message = decision_message(**base)
    assert message.startswith(b"cublab-decision-v1\n") and b"actor: human:carol\n" in message
    for key, other in [
        ("proposal_id", "prop_2"),
        ("decision", "reject"),
        ("actor", "human:dave"),
        ("reason", "ok!"),
        ("patch_digest", "sha256:bb"),
    ]:
        assert decision_message(**{**base, key: other}) != message
