"""The words a person reads when Baton says no: one sentence per refusal reason, facts filled in as Slack markup."""

from __future__ import annotations

from bot.engine import People, Refusal, RefusalReason, Why, WordedText

from .wording import shown

__all__ = ["refusal_text"]

_PAST_TENSE = {
    "done": "marked done",
    "approved": "approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "changes_requested": "sent back for changes",
}

_SENTENCES: dict[RefusalReason, str] = {
    RefusalReason.NOT_ALLOWED_TO_START: (
        "You are not among the people who may start *{workflow}*. Ask the process owner if you need it."
    ),
    RefusalReason.FORM_INVALID: "The form has problems: {details}",
    RefusalReason.NO_SUCH_WORKFLOW: "There is no workflow called `{name}`. See `/workflow list`.",
    RefusalReason.ALREADY_RECEIVED: "This request was already received; nothing was started twice.",
    RefusalReason.NO_SUCH_TASK: "That task does not exist.",
    RefusalReason.TASK_GONE: "That task does not exist (any more).",
    RefusalReason.NOT_YOURS: "That task does not exist, or it is not yours to act on.",
    RefusalReason.NO_SUCH_REQUEST: "There is no request #{request}.",
    RefusalReason.NOT_INVOLVED_TO_SEE: "Only the people involved in request #{request} can see it.",
    RefusalReason.ALREADY_CLOSED: "This task was already {done}{by}; nothing changed.",
    RefusalReason.INSTANCE_FINISHED: "{title} is already {status}; nothing more can be done on it.",
    RefusalReason.USE_RESUBMIT: "Use “Edit and resubmit” to answer the change request.",
    RefusalReason.NOT_A_HOLDER: "Only {holders} can act on this task.",
    RefusalReason.UNKNOWN_DECISION: "Unknown decision.",
    RefusalReason.WRONG_DECISION: "This task can only be {expected}.",
    RefusalReason.NO_CHANGE_REQUESTS_HERE: "This step does not take change requests: approve or reject.",
    RefusalReason.ALREADY_VOTED: "You already {voted} this; the others are still deciding.",
    RefusalReason.OWN_REQUEST_APPROVAL: (
        "You raised this request, so you cannot approve it yourself (separation of duties)."
    ),
    RefusalReason.REASON_NEEDED: "Please give a reason when you reject.",
    RefusalReason.CHANGES_NEEDED: "Please say what should change.",
    RefusalReason.NOT_ALLOWED_TO_CANCEL: "Only {requester} (who asked for it) or an admin can cancel {title}.",
    RefusalReason.TIMER_TASK_CLOSED: "The task is closed; nothing to do.",
    RefusalReason.REVISION_HAS_NO_TIMERS: "A change request has no timers.",
    RefusalReason.REVISION_STAYS: "A change request stays with the requester.",
    RefusalReason.NOT_ALLOWED_TO_REASSIGN: (
        "Only the people holding this task, those it was escalated to, or an admin can reassign it."
    ),
    RefusalReason.NOTHING_TO_HAND_OVER: "This task is closed; there is nothing to hand over.",
    RefusalReason.PICK_A_PERSON: "Pick a person to hand the task to.",
    RefusalReason.REQUESTER_CHOOSING_APPROVER: (
        "You raised this request, so you cannot choose who approves it (separation of duties)."
    ),
    RefusalReason.REQUESTER_AS_APPROVER: "The requester cannot approve their own request; pick someone else.",
    RefusalReason.HAND_TO_SELF: "You cannot hand a task to yourself.",
    RefusalReason.ALREADY_HOLDS: "{person} already holds this task.",
    RefusalReason.DECISION_STANDS: "You have decided on this task already; your decision stands.",
    RefusalReason.NOT_HOLDER_TO_SNOOZE: "Only the people holding this task can snooze its reminders.",
    RefusalReason.REVISION_HAS_NO_REMINDERS: "A change request has no reminders to snooze.",
    RefusalReason.UNKNOWN_SNOOZE: "Pick 1 hour, tomorrow morning or next week.",
    RefusalReason.DEADLINE_TOO_CLOSE: "The final deadline is too close to snooze this task.",
    RefusalReason.NO_CHANGE_REQUEST: "There is no change request to answer.",
    RefusalReason.NOT_REQUESTER_TO_EDIT: "Only {requester} can edit this request.",
    RefusalReason.EMPTY_COMMENT: "Write something to comment.",
    RefusalReason.NOT_REQUESTER_TO_RATE: "Only the person who made this request can rate it.",
    RefusalReason.NO_RATINGS_HERE: "{title} does not ask for ratings.",
    RefusalReason.NOT_RATEABLE: "{title} is {status}; only completed or rejected requests can be rated.",
    RefusalReason.RATE_FIRST: "Pick a score for {title} first; then add your comment.",
    RefusalReason.UNKNOWN_SCORE: "Ratings go from 1 to 5.",
    RefusalReason.REQUEST_FINISHED_TO_COMMENT: "This request is already {status}; nothing more can be added to it.",
    RefusalReason.DELEGATE_TO_SELF: "You cannot delegate to yourself.",
    RefusalReason.DELEGATION_IN_PAST: "Pick an end date in the future.",
    RefusalReason.DELEGATE_AWAY: "{delegate} is away too (delegating to {their_delegate}); pick someone else.",
    RefusalReason.OLD_MENU_ITEM: "That menu item belongs to an older version of Baton and does nothing now.",
    RefusalReason.WAIT_IS_NOT_WORK: "Nobody acts on *{title}*: it ends by itself when its time is up.",
    RefusalReason.NOT_EXTENDABLE: "*{title}* cannot be extended.",
    RefusalReason.NOT_REQUESTER_TO_EXTEND: "Only {requester}, who asked for it, may ask to extend *{title}*.",
    RefusalReason.EXTENSION_LENGTH: "Ask for 1 to {most} days.",
    RefusalReason.EXTENSION_PENDING: "An extension of *{title}* is already waiting for {approvers}.",
}


def refusal_text(why: Why | Refusal) -> str:
    """The sentence a person reads for this refusal."""
    if isinstance(why, Refusal):
        why = why.why
    shown = {key: _shown(value) for key, value in why.facts.items()}
    if why.reason is RefusalReason.ALREADY_CLOSED:
        shown["done"] = _PAST_TENSE.get(str(why.facts.get("status")), str(why.facts.get("status")))
        shown["by"] = f" by {shown['by']}" if "by" in shown else ""
    elif why.reason is RefusalReason.WRONG_DECISION:
        shown["expected"] = "approved or rejected" if why.facts.get("kind") == "approval" else "marked done"
    elif why.reason is RefusalReason.ALREADY_VOTED:
        shown["voted"] = "approved" if why.facts.get("decision") == "approve" else "rejected"
    return _SENTENCES[why.reason].format(**shown)


def _shown(value: str | People | WordedText) -> str:
    if isinstance(value, People):
        return ", ".join(f"<@{user}>" for user in value.ids)
    return shown(value) if isinstance(value, WordedText) else value
