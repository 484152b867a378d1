"""Why the engine (or the service) said no: a reason and the facts it is about, never the words people read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .wording import PLAIN_WORDING, WordedText

__all__ = ["People", "RefusalFacts", "RefusalReason", "Why"]


class RefusalReason(StrEnum):
    """Every way a command can be refused; `bot/slack/refusals.py` words each one for the person who asked."""

    NOT_ALLOWED_TO_START = "not_allowed_to_start"
    FORM_INVALID = "form_invalid"
    NO_SUCH_WORKFLOW = "no_such_workflow"
    ALREADY_RECEIVED = "already_received"
    NO_SUCH_TASK = "no_such_task"
    TASK_GONE = "task_gone"
    NOT_YOURS = "not_yours"
    NO_SUCH_REQUEST = "no_such_request"
    NOT_INVOLVED_TO_SEE = "not_involved_to_see"
    ALREADY_CLOSED = "already_closed"
    INSTANCE_FINISHED = "instance_finished"
    USE_RESUBMIT = "use_resubmit"
    NOT_A_HOLDER = "not_a_holder"
    UNKNOWN_DECISION = "unknown_decision"
    WRONG_DECISION = "wrong_decision"
    NO_CHANGE_REQUESTS_HERE = "no_change_requests_here"
    ALREADY_VOTED = "already_voted"
    OWN_REQUEST_APPROVAL = "own_request_approval"
    REASON_NEEDED = "reason_needed"
    CHANGES_NEEDED = "changes_needed"
    NOT_ALLOWED_TO_CANCEL = "not_allowed_to_cancel"
    TIMER_TASK_CLOSED = "timer_task_closed"
    REVISION_HAS_NO_TIMERS = "revision_has_no_timers"
    REVISION_STAYS = "revision_stays"
    NOT_ALLOWED_TO_REASSIGN = "not_allowed_to_reassign"
    NOTHING_TO_HAND_OVER = "nothing_to_hand_over"
    PICK_A_PERSON = "pick_a_person"
    REQUESTER_CHOOSING_APPROVER = "requester_choosing_approver"
    REQUESTER_AS_APPROVER = "requester_as_approver"
    HAND_TO_SELF = "hand_to_self"
    ALREADY_HOLDS = "already_holds"
    DECISION_STANDS = "decision_stands"
    NOT_HOLDER_TO_SNOOZE = "not_holder_to_snooze"
    REVISION_HAS_NO_REMINDERS = "revision_has_no_reminders"
    UNKNOWN_SNOOZE = "unknown_snooze"
    DEADLINE_TOO_CLOSE = "deadline_too_close"
    NO_CHANGE_REQUEST = "no_change_request"
    NOT_REQUESTER_TO_EDIT = "not_requester_to_edit"
    EMPTY_COMMENT = "empty_comment"
    REQUEST_FINISHED_TO_COMMENT = "request_finished_to_comment"
    DELEGATE_TO_SELF = "delegate_to_self"
    DELEGATION_IN_PAST = "delegation_in_past"
    DELEGATE_AWAY = "delegate_away"
    OLD_MENU_ITEM = "old_menu_item"
    WAIT_IS_NOT_WORK = "wait_is_not_work"
    NOT_EXTENDABLE = "not_extendable"
    NOT_REQUESTER_TO_EXTEND = "not_requester_to_extend"
    EXTENSION_LENGTH = "extension_length"
    EXTENSION_PENDING = "extension_pending"
    NOT_REQUESTER_TO_RATE = "not_requester_to_rate"
    NO_RATINGS_HERE = "no_ratings_here"
    NOT_RATEABLE = "not_rateable"
    RATE_FIRST = "rate_first"
    UNKNOWN_SCORE = "unknown_score"


@dataclass(frozen=True)
class People:
    """Slack user ids a refusal names (rendered as mentions by the adapter)."""

    ids: tuple[str, ...]


RefusalFacts = Mapping[str, "str | People | WordedText"]


@dataclass(frozen=True)
class Why:
    """A refusal's reason and the facts it names (titles, statuses, people)."""

    reason: RefusalReason
    facts: RefusalFacts = field(default_factory=dict)

    def recorded(self) -> dict[str, object]:
        """The refusal as the event log keeps it: the reason's code and its facts as plain values."""
        return {"reason": self.reason.value, **{key: _recorded(value) for key, value in self.facts.items()}}


def _recorded(value: str | People | WordedText) -> object:
    """A fact as a plain value: people as their ids, a worded title as plain text."""
    if isinstance(value, People):
        return list(value.ids)
    return value.shown_in(PLAIN_WORDING) if isinstance(value, WordedText) else value
