"""The engine's "may this person…" questions answer exactly as its decisions would, and name no title."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.engine import CommentOn, ReassignTask, Refusal, comment_refusal, decide, hand_over_refusal

from .test_engine_rules import (
    ADMIN,
    BOB,
    FINANCE,
    FIONA,
    FRANK,
    MARIA,
    NOW,
    OUTSIDER,
    REQUESTER,
    escalated_finance_step,
)

EVERYONE = (REQUESTER, MARIA, ADMIN, FIONA, FRANK, BOB, OUTSIDER)
LATER = NOW + timedelta(hours=2)


@pytest.mark.parametrize("approved_by", [(), (FIONA,)])
@pytest.mark.parametrize("person", EVERYONE)
def test_who_may_hand_over_a_task_is_answered_as_the_reassignment_itself_decides(
    person: str, approved_by: tuple[str, ...]
) -> None:
    defn, instance = escalated_finance_step(approved_by=approved_by)
    asked = hand_over_refusal(defn, FINANCE, instance, "1.finance", person)
    decided = decide(defn, FINANCE, instance, ReassignTask("1.finance", person, "U0DELIA"), LATER)
    assert (asked is None) == (not isinstance(decided, Refusal)), (asked, decided)
    if asked is not None:
        assert isinstance(decided, Refusal) and decided.reason == asked
        assert instance.title not in asked
    expected_allowed = {MARIA, ADMIN, FRANK} | ({FIONA} if not approved_by else set())
    assert (asked is None) == (person in expected_allowed)


@pytest.mark.parametrize("person", EVERYONE)
def test_who_may_comment_is_answered_as_the_comment_itself_decides(person: str) -> None:
    defn, instance = escalated_finance_step(approved_by=(FIONA,))
    asked = comment_refusal(FINANCE, instance, person)
    decided = decide(defn, FINANCE, instance, CommentOn(person, "a question"), LATER)
    assert (asked is None) == (not isinstance(decided, Refusal))
    assert asked is None or instance.title not in asked
    assert (asked is None) == (person in {REQUESTER, MARIA, ADMIN, FIONA, FRANK})


def test_a_task_that_is_not_there_gets_the_same_answer_as_one_that_is_not_yours() -> None:
    defn, instance = escalated_finance_step(approved_by=())
    assert hand_over_refusal(defn, FINANCE, None, "9.finance", OUTSIDER) == hand_over_refusal(
        defn, FINANCE, instance, "9.finance", OUTSIDER
    )
    assert comment_refusal(FINANCE, None, OUTSIDER) == comment_refusal(FINANCE, instance, OUTSIDER)
