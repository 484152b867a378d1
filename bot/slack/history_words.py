"""What each kind of logged event is called in a request's history, in the words its people use."""

from __future__ import annotations

__all__ = ["history_phrase"]

_PHRASES = {
    "instance_started": "requested it",
    "instance_completed": "request completed",
    "instance_rejected": "request rejected",
    "instance_cancelled": "request cancelled",
    "instance_failed": "request could not go on",
    "task_assigned": "task assigned",
    "task_approved": "approved",
    "task_rejected": "rejected",
    "task_completed": "done",
    "task_cancelled": "task no longer needed",
    "task_reassigned": "handed over",
    "task_delegated": "passed to a stand-in",
    "task_snoozed": "snoozed",
    "task_timed_out": "ran out of time",
    "vote_recorded": "voted",
    "changes_requested": "asked for changes",
    "revision_requested": "asked for changes",
    "form_resubmitted": "sent the form again",
    "comment_added": "commented",
    "reminder_sent": "reminder sent",
    "escalated": "escalated",
    "escalation_unresolved": "escalation found nobody to go to",
    "step_skipped": "step skipped (its condition did not hold)",
    "delivery_failed": "a message could not be delivered",
    "action_refused": "was refused",
    "request_rated": "rated the outcome",
    "personal_data_erased": "a person's personal data was erased here",
}


_STARTED_BY = {
    "schedule": "started by its schedule",
    "schedule-late": "started late by its schedule (Baton was not running at its time)",
}


def history_phrase(kind: str, trigger: object = None) -> str:
    """The event kind in plain words (a start by what started it); a kind without its own phrase reads as its
    words."""
    if kind == "instance_started" and isinstance(trigger, str) and trigger in _STARTED_BY:
        return _STARTED_BY[trigger]
    return _PHRASES.get(kind, kind.replace("_", " "))
