"""One-off approvals for other systems: the body of `POST /api/approvals` and the request it becomes.

A question ("May the agent delete these 40 files?") becomes a normal Baton request on a definition made for
it: one approval step to the approvers, with the caller's words on the buttons, a due time, a reminder when
it falls due and an escalation after as long again. The definition is stored with the request like any
workflow version, so the request runs, is decided, reminded and exported like every other.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot.engine import WorkflowDefinition
from bot.engine.assignees import AssigneeRef
from bot.engine.definition import ApprovalRule, EscalationPolicy, FormField, ReminderPolicy, Step, StepKind
from bot.engine.expressions import FormValue
from bot.engine.worktime import TimeSpan, parse_span

__all__ = ["APPROVAL_WORKFLOW", "ApprovalAsk", "approval_definition", "read_approval_body"]

APPROVAL_WORKFLOW = "api-approval"
_QUESTION_LIMIT = 150
_DETAILS_LIMIT = 2900
_LABEL_LIMIT = 30
_MOST_APPROVERS = 20
_DEFAULT_DUE = "1d"
_LONGEST_DUE = timedelta(days=90)
_KEYS = {"approvers", "text", "details", "options", "rule", "due", "escalate_to", "requester", "callback_url"}
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class ApprovalAsk:
    """A one-off question as read from a caller's body, or the problems with it (one per key)."""

    approvers: tuple[str, ...] = ()
    text: str = ""
    details: str | None = None
    approve_label: str = "Approve"
    reject_label: str = "Reject"
    rule: ApprovalRule = ApprovalRule.ANY
    due: TimeSpan | None = None
    escalate_to: tuple[str, ...] = ("assignee.manager",)
    requester: str | None = None
    callback_url: str | None = None
    digest: str = ""  # of the body as parsed: the same question asked again has the same digest
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def form(self) -> dict[str, FormValue]:
        return {"question": self.text, "details": self.details}


def read_approval_body(body: dict[str, Any], now: datetime) -> ApprovalAsk:
    """Read the keys of an approval body (an object already parsed); every problem in one answer."""
    errors: dict[str, str] = {}
    unknown = sorted(str(key)[:40] for key in set(body) - _KEYS)
    if unknown:
        errors["body"] = f"unknown keys: {', '.join(unknown)[:200]}; use {', '.join(sorted(_KEYS))}"
    approvers = _people(body.get("approvers"), "approvers", errors, required=True)
    escalate_to = _people(body.get("escalate_to"), "escalate_to", errors, required=False)
    text = _text(body.get("text"), "text", _QUESTION_LIMIT, errors, required=True)
    details = _text(body.get("details"), "details", _DETAILS_LIMIT, errors, required=False)
    approve_label, reject_label = _options(body.get("options"), errors)
    rule = body.get("rule", "any")
    if rule not in ("any", "all"):
        errors["rule"] = 'rule is "any" (the first answer decides) or "all" (every approver must approve)'
    due = _due(body.get("due", _DEFAULT_DUE), now, errors)
    requester = body.get("requester")
    if requester is not None and (not isinstance(requester, str) or not _USER_ID.fullmatch(requester)):
        errors["requester"] = "a Slack user ID such as U0123ABCD"
    callback_url = body.get("callback_url")
    if callback_url is not None and not isinstance(callback_url, str):
        errors["callback_url"] = "a URL such as https://agent.example.com/baton"
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return ApprovalAsk(
        approvers=approvers,
        text=text or "",
        details=details,
        approve_label=approve_label,
        reject_label=reject_label,
        rule=ApprovalRule.ALL if rule == "all" else ApprovalRule.ANY,
        due=due,
        escalate_to=escalate_to or ("assignee.manager",),
        requester=requester if isinstance(requester, str) and "requester" not in errors else None,
        callback_url=callback_url if isinstance(callback_url, str) else None,
        digest=digest,
        errors=errors,
    )


def _people(value: Any, key: str, errors: dict[str, str], *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    refs = [value] if isinstance(value, str) else value
    if not isinstance(refs, list) or not refs or len(refs) > _MOST_APPROVERS:
        errors[key] = f"a list of 1 to {_MOST_APPROVERS} Slack user IDs (U…) or group:<name> of org.yaml"
        return ()
    for ref in refs:
        ok = isinstance(ref, str) and (_USER_ID.fullmatch(ref) or re.fullmatch(r"group:[a-z0-9][a-z0-9_-]*", ref))
        if not ok:
            errors[key] = f"{str(ref)[:40]!r} is not a Slack user ID (U…) or group:<name>"
            return ()
    return tuple(dict.fromkeys(refs))


def _text(value: Any, key: str, limit: int, errors: dict[str, str], *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        errors[key] = f"1 to {limit} characters of text"
        return None
    if len(value.strip()) > limit:
        errors[key] = f"{key} is at most {limit} characters (this is {len(value.strip())})"
        return None
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        errors[key] = f"{key} may not contain control characters"
        return None
    return value.strip()


def _options(value: Any, errors: dict[str, str]) -> tuple[str, str]:
    """The words on the two buttons: `{"approve": "Delete them", "reject": "Keep them"}`."""
    if value is None:
        return "Approve", "Reject"
    if not isinstance(value, dict) or set(value) - {"approve", "reject"}:
        errors["options"] = 'an object of the buttons\' words: {"approve": "Delete them", "reject": "Keep them"}'
        return "Approve", "Reject"
    labels = []
    for key, default in (("approve", "Approve"), ("reject", "Reject")):
        label = value.get(key, default)
        if not isinstance(label, str) or not label.strip() or len(label.strip()) > _LABEL_LIMIT:
            errors[f"options.{key}"] = f"a button's words, 1 to {_LABEL_LIMIT} characters"
            label = default
        labels.append(label.strip())
    return labels[0], labels[1]


def _due(value: Any, now: datetime, errors: dict[str, str]) -> TimeSpan | None:
    """A duration (`30m`, `4h`, `2 business days`) or a moment with its offset (`2026-12-03T09:00:00Z`)."""
    if not isinstance(value, str) or not value.strip():
        errors["due"] = "a duration such as 30m, 4h or 2 business days, or a time such as 2026-12-03T09:00:00Z"
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is not None:
        if moment.tzinfo is None:
            errors["due"] = "give the time with its offset, e.g. 2026-12-03T09:00:00Z or +01:00"
            return None
        left = moment - now
        if left < timedelta(minutes=1):
            errors["due"] = "due is in the past (or less than a minute away)"
            return None
        if left > _LONGEST_DUE:
            errors["due"] = "due is at most 90 days away"
            return None
        return TimeSpan(amount=timedelta(seconds=int(left.total_seconds())))
    try:
        span = parse_span(value.strip())
    except ValueError as error:
        errors["due"] = str(error)[:200]
        return None
    if not span.business and span.amount > _LONGEST_DUE:
        errors["due"] = "due is at most 90 days away"
        return None
    return span


def approval_definition(ask: ApprovalAsk) -> WorkflowDefinition | str:
    """The definition a question runs on: one approval step to its approvers; or why it cannot be built."""
    due = ask.due or parse_span(_DEFAULT_DUE)
    wall_clock = due if not due.business else parse_span("1d")  # reminder and escalation cadences are wall-clock
    try:
        for ref in (*ask.approvers, *ask.escalate_to):
            AssigneeRef.parse(ref, allow_assignee=True)
        step = Step(
            id="decide",
            type=StepKind.APPROVAL,
            title="{form.question}",
            description="{form.details}" if ask.details else None,
            assignee=ask.approvers,
            rule=ask.rule,
            due=due,
            remind=ReminderPolicy(at_due=True),
            escalate=EscalationPolicy(after=wall_clock, to=ask.escalate_to),
            allow_changes=False,
            approve_label=ask.approve_label,
            reject_label=ask.reject_label,
        )
        return WorkflowDefinition(
            name=APPROVAL_WORKFLOW,
            title="Approval",
            description="A one-off question another system asked through the API.",
            form=(
                FormField(id="question", label="Question", max_length=_QUESTION_LIMIT),
                FormField(id="details", label="Details", required=False, multiline=True, max_length=_DETAILS_LIMIT),
            ),
            steps=(step,),
            defaults={},
            satisfaction=False,  # a system asked: no one to rate the answer
        )
    except (ValidationError, ValueError) as error:
        return str(error).splitlines()[0][:200]
