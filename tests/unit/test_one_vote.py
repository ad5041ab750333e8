"""One human, one vote: identities fold to one spelling, the proposer never counts under
any alias, and quorum counts distinct people backed by distinct OS accounts and keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cublab.domain.identity import fold_identity, is_proposer, principal_of
from cublab.domain.proposals import DecisionRecord, requirement_status

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PROPOSER = "agent:claude-desktop-session1"
TWO = {"kind": "approval", "approvals_needed": 2, "signed": False}
TWO_SIGNED = {"kind": "approval", "approvals_needed": 2, "signed": True}


def vote(actor: str, account: str | None, key: str | None = None, minute: int = 1, decision: str = "approve"):
    return DecisionRecord(actor, decision, T0 + timedelta(minutes=minute), account, key)


def status(requirement, decisions):
    return requirement_status(requirement, decisions, proposer=PROPOSER, created_at=T0, now=T0 + timedelta(hours=1))


# ---- principals ---------------------------------------------------------------------------


def test_an_agent_principal_drops_the_session_and_a_human_is_its_own() -> None:
    assert principal_of("agent:claude-desktop-session1") == "agent:claude-desktop"
    assert principal_of("agent:Claude-Desktop-Session2") == "agent:claude-desktop"
    assert principal_of("agent:codex-1") == "agent:codex"
    assert principal_of("human:Carol") == "human:carol"
    assert fold_identity(" human:ＣＡＲＯＬ ") == "human:carol"


# ---- the proposer under any alias ---------------------------------------------------------


@pytest.mark.parametrize(
    "alias",
    [
        "agent:claude-desktop-session1",
        "agent:claude-desktop-session2",  # another session of the same agent
        "human:claude-desktop-session1",  # the proposer's identity, written as a human
        "human:Claude-Desktop-Session1",
        "human:claude-desktop",  # its principal, written as a human
        "human:ＣＬＡＵＤＥ-desktop",
        "human:claude-desktop-session9",  # another session, written as a human
    ],
)
def test_the_proposer_is_recognised_under_any_prefix_and_spelling(alias: str) -> None:
    assert is_proposer(alias, PROPOSER)


@pytest.mark.parametrize("other", ["human:carol", "human:claude", "human:desktop", "human:claude-desk"])
def test_other_names_are_not_the_proposer(other: str) -> None:
    assert not is_proposer(other, PROPOSER)


def test_a_human_proposer_is_recognised_in_any_case() -> None:
    assert is_proposer("human:CAROL", "human:carol")
    assert is_proposer("human:carol", "human:Carol")  # a stored value from before folding


# ---- quorum: one person, one vote ----------------------------------------------------------


def test_two_spellings_of_one_name_are_one_approver() -> None:
    result = status(TWO, [vote("human:carol", "uid:1001", minute=1), vote("human:Carol", "uid:1002", minute=2)])
    assert not result.met and result.approvals == ["human:carol"]


def test_a_fullwidth_spelling_is_the_same_approver() -> None:
    result = status(TWO, [vote("human:carol", "a"), vote("human:ＣＡＲＯＬ", "b", minute=2)])
    assert not result.met and result.approvals == ["human:carol"]


@pytest.mark.parametrize("alias", ["human:claude-desktop-session1", "human:claude-desktop", "human:CLAUDE-desktop"])
def test_the_proposer_under_a_human_prefix_never_counts(alias: str) -> None:
    result = status(TWO, [vote("human:carol", "a"), vote(alias, "b", minute=2)])
    assert not result.met and result.approvals == ["human:carol"]
    assert any("alias of the proposer" in why for why in result.not_counted)


def test_two_names_from_one_os_account_are_one_approver() -> None:
    result = status(TWO, [vote("human:carol", "carol@host"), vote("human:dave", "carol@host", minute=2)])
    assert not result.met and result.approvals == ["human:carol"]
    assert result.not_counted == [
        "human:dave approve: made from OS account 'carol@host', which already counted for someone else"
    ]
    assert "different person" in result.still_required


def test_two_people_from_two_accounts_meet_an_unsigned_two_approver_rule() -> None:
    result = status(TWO, [vote("human:carol", "carol@host"), vote("human:dave", "dave@host", minute=2)])
    assert result.met and result.approvals == ["human:carol", "human:dave"]


def test_in_a_signed_space_an_unsigned_approval_counts_for_nothing() -> None:
    result = status(TWO_SIGNED, [vote("human:carol", "a", "SHA256:k1"), vote("human:dave", "b", None, minute=2)])
    assert not result.met and result.approvals == ["human:carol"]
    assert "not signed" in result.not_counted[0]
    assert "--sign-with" in result.still_required and "cublab reviewers add" in result.still_required


def test_in_a_signed_space_two_approvals_need_two_keys() -> None:
    same_key = status(TWO_SIGNED, [vote("human:carol", "a", "SHA256:k1"), vote("human:dave", "b", "SHA256:k1", 2)])
    assert not same_key.met and same_key.approvals == ["human:carol"]
    assert "signed with key SHA256:k1" in same_key.not_counted[0]
    two_keys = status(TWO_SIGNED, [vote("human:carol", "a", "SHA256:k1"), vote("human:dave", "b", "SHA256:k2", 2)])
    assert two_keys.met and two_keys.approvals == ["human:carol", "human:dave"]


def test_the_signed_flag_can_be_forced_for_older_proposals() -> None:
    decisions = [vote("human:carol", "a"), vote("human:dave", "b", minute=2)]
    assert status(TWO, decisions).met
    forced = requirement_status(TWO, decisions, proposer=PROPOSER, created_at=T0, now=T0, signed=True)
    assert not forced.met and forced.approvals == []


def test_a_person_is_counted_once_however_often_they_decide() -> None:
    result = status(TWO, [vote("human:carol", "a"), vote("human:carol", "b", minute=2), vote("human:carol", "c", 3)])
    assert not result.met and result.approvals == ["human:carol"] and result.not_counted == []


def test_rows_without_an_os_account_still_count_by_name() -> None:
    # decisions recorded before the OS account was: they are not merged with each other
    result = status(TWO, [vote("human:carol", None), vote("human:dave", None, minute=2)])
    assert result.met


def test_acknowledgments_count_one_per_person_too() -> None:
    requirement = {"kind": "acknowledgment", "approvals_needed": 1, "as_high_after_seconds": 8 * 3600}
    proposer_ack = status(requirement, [vote("human:claude-desktop", "a", decision="acknowledge")])
    assert not proposer_ack.met and proposer_ack.acknowledgments == []
    real = status(requirement, [vote("human:Carol", "a", decision="acknowledge")])
    assert real.met and real.acknowledgments == ["human:carol"]


def test_agents_and_rejections_never_count() -> None:
    result = status(
        TWO,
        [
            vote("agent:other-session1", "a"),
            vote("human:carol", "b", minute=2),
            vote("human:dave", "c", minute=3, decision="reject"),
        ],
    )
    assert not result.met and result.approvals == ["human:carol"]


# ---- which spaces need signed decisions -------------------------------------------------


def test_the_seed_policy_marks_production_for_signed_decisions() -> None:
    from cublab.policies import load_policy

    promotion = load_policy().policy.promotion
    assert promotion.signed_decision_tiers == ["production"]
    assert promotion.requires_signed_decisions({"tier": "production"})
    assert not promotion.requires_signed_decisions({"tier": "staging"})
    assert not promotion.requires_signed_decisions(None)
    # a policy file written before the key existed still signs production
    unsigned = promotion.model_dump(mode="json", exclude={"signed_decision_tiers"})
    assert type(promotion).model_validate(unsigned).signed_decision_tiers == ["production"]
    assert (
        not type(promotion)
        .model_validate({**unsigned, "signed_decision_tiers": []})
        .requires_signed_decisions({"tier": "production"})
    )
