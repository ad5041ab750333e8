"""Identities fold to one spelling before they are matched, compared or stored."""

from __future__ import annotations

import pytest

from cublab.domain.errors import Forbidden, InvalidInput
from cublab.domain.identity import human_identity, parse_identity

# ---- folding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "human:carol",
        "human:Carol",
        "human:CAROL",
        "HUMAN:carol",
        "Human:cArOl",
        "human:ＣＡＲＯＬ",  # fullwidth
        "ｈｕｍａｎ：ｃａｒｏｌ",  # fullwidth prefix and colon
        "  human:carol  ",
    ],
)
def test_every_spelling_of_a_human_folds_to_one(spelling: str) -> None:
    identity = parse_identity(spelling)
    assert identity.value == "human:carol"
    assert identity.is_human and identity.name == "carol" and identity.principal == "human:carol"


def test_compatibility_characters_fold_too() -> None:
    assert parse_identity("human:ﬁona").value == "human:fiona"  # the fi ligature
    assert parse_identity("human:\u212aate").value == "human:kate"  # KELVIN SIGN
    assert parse_identity("human:Strauß").value == "human:strauss"


@pytest.mark.parametrize(
    "lookalike",
    [
        "human:c\u0430rol",  # Cyrillic a
        "human:\u0441arol",  # Cyrillic es
        "human:car\u03bfl",  # Greek omicron
        "human:carol\u200b",  # zero-width space
        "human:ca\u2060rol",  # word joiner
        "human:carol\u0301",  # a combining accent
    ],
)
def test_lookalikes_are_refused_not_taken_for_someone_else(lookalike: str) -> None:
    with pytest.raises(InvalidInput, match=r"^as: "):
        parse_identity(lookalike, "as")


def test_agent_identities_fold_and_their_principal_drops_the_session() -> None:
    agent = parse_identity("Agent:Claude-Desktop-Session1")
    assert agent.value == "agent:claude-desktop-session1"
    assert agent.principal == "agent:claude-desktop"
    assert parse_identity("AGENT:codex-1").principal == "agent:codex"


def test_a_human_cannot_be_named_as_an_agent_or_the_reverse() -> None:
    with pytest.raises(Forbidden):
        human_identity("AGENT:claude-desktop-session1")
