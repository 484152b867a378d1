"""Workflow definitions: what process owners write in `workflows/*.yaml`, validated on load."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .assignees import AssigneeRef
from .expressions import Condition, FileRef, FormValue, template_references
from .integrations import ReportSchedule, WebhookSpec
from .recurrence import Recurrence, parse_recurrence
from .suggestions import did_you_mean
from .waits import WaitLength, parse_wait_length
from .worktime import TimeSpan, parse_span

__all__ = [
    "ApprovalRule",
    "EscalationPolicy",
    "FieldType",
    "FormField",
    "ParallelGroup",
    "ReminderPolicy",
    "SelectOption",
    "Stage",
    "Step",
    "StepKind",
    "TimeoutAction",
    "WorkflowDefinition",
]

_ID = r"^[a-z][a-z0-9_]*$"
_WORKFLOW_NAME = r"^[a-z][a-z0-9-]*$"
_TEMPLATE_NAMES = {"requester", "workflow", "instance", "title"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    USER = "user"
    SELECT = "select"
    MULTI_SELECT = "multi_select"
    MULTI_USER = "multi_user"
    CHECKBOXES = "checkboxes"
    RADIO = "radio"
    DATETIME = "datetime"
    EMAIL = "email"
    URL = "url"
    RICH_TEXT = "rich_text"
    FILE = "file"

    @property
    def has_options(self) -> bool:
        return self in _OPTION_LIMITS

    @property
    def is_list(self) -> bool:
        """Whether its value is a list: several options, people or files."""
        return self in (FieldType.MULTI_SELECT, FieldType.MULTI_USER, FieldType.CHECKBOXES, FieldType.FILE)


_OPTION_LIMITS = {  # Slack's most options per element
    FieldType.SELECT: 100,
    FieldType.MULTI_SELECT: 100,
    FieldType.CHECKBOXES: 10,
    FieldType.RADIO: 10,
}
_COUNTED = (FieldType.MULTI_SELECT, FieldType.MULTI_USER, FieldType.CHECKBOXES)
_LENGTHS = (FieldType.TEXT, FieldType.RICH_TEXT)
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_FILE_ID = re.compile(r"F[A-Z0-9]{2,}")
_FILETYPE = re.compile(r"[a-z0-9]{1,16}")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MAX_FILES = 10  # Slack's file_input takes 1 to 10 files


def _option_list(kinds: tuple[FieldType, ...]) -> str:
    names = [kind.value for kind in kinds]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


class SelectOption(_Frozen):
    value: Annotated[str, Field(min_length=1, max_length=75)]
    label: Annotated[str, Field(min_length=1, max_length=75)]


class FormField(_Frozen):
    """One input of a start form."""

    id: Annotated[str, Field(pattern=_ID, max_length=40)]
    label: Annotated[str, Field(min_length=1, max_length=48)]
    type: FieldType = FieldType.TEXT
    required: bool = True
    help: Annotated[str | None, Field(max_length=150)] = None
    multiline: bool = False
    min_length: Annotated[int | None, Field(ge=0, le=3000)] = None
    max_length: Annotated[int | None, Field(ge=1, le=3000)] = None
    min: float | None = None
    max: float | None = None
    decimals: Annotated[int, Field(ge=0, le=6)] = 2
    options: tuple[SelectOption, ...] = ()
    min_selected: Annotated[int | None, Field(ge=1, le=100)] = None
    max_selected: Annotated[int | None, Field(ge=1, le=100)] = None
    filetypes: tuple[str, ...] = ()
    max_files: Annotated[int | None, Field(ge=1, le=_MAX_FILES)] = None

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        names = [kind.value for kind in FieldType]
        if not isinstance(value, FieldType) and value not in names:
            hint = did_you_mean(str(value), names)
            raise ValueError(f"a field type is one of {', '.join(names)}; not {value!r}{hint}")
        return value

    @field_validator("filetypes", mode="before")
    @classmethod
    def _extensions(cls, value: Any) -> Any:
        """`[PDF, .png]` means the same as `[pdf, png]`."""
        if not isinstance(value, list | tuple):
            return value
        extensions = tuple(item.lower().lstrip(".") if isinstance(item, str) else item for item in value)
        for item in extensions:
            if not isinstance(item, str) or not _FILETYPE.fullmatch(item):
                raise ValueError(f"{item!r} is not a file extension such as pdf or png")
        return extensions

    @model_validator(mode="after")
    def _fits_its_type(self) -> FormField:
        kind = self.type
        if kind.has_options and not self.options:
            raise ValueError(f"a {kind.value} field needs options")
        if kind.has_options and len(self.options) > _OPTION_LIMITS[kind]:
            limit = _OPTION_LIMITS[kind]
            count = len(self.options)
            raise ValueError(f"a {kind.value} field offers at most {limit} options (Slack's limit), not {count}")
        if not kind.has_options and self.options:
            raise ValueError(f"options only apply to {_option_list(tuple(_OPTION_LIMITS))} fields, not {kind.value}")
        if kind is not FieldType.NUMBER and (self.min is not None or self.max is not None):
            raise ValueError("min and max only apply to number fields")
        if kind is not FieldType.TEXT and self.multiline:
            raise ValueError("multiline only applies to text fields")
        if kind not in _LENGTHS and (self.min_length is not None or self.max_length is not None):
            raise ValueError("min_length and max_length only apply to text and rich_text fields")
        if kind not in _COUNTED and (self.min_selected is not None or self.max_selected is not None):
            raise ValueError(f"min_selected and max_selected only apply to {_option_list(_COUNTED)} fields")
        if kind is not FieldType.FILE and (self.filetypes or self.max_files is not None):
            raise ValueError("filetypes and max_files only apply to file fields")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is larger than max")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError("min_length is larger than max_length")
        if self.min_selected is not None and self.max_selected is not None and self.min_selected > self.max_selected:
            raise ValueError("min_selected is larger than max_selected")
        if kind.has_options and (self.min_selected or 0) > len(self.options):
            raise ValueError(f"min_selected is {self.min_selected}, but there are only {len(self.options)} options")
        if len({option.value for option in self.options}) != len(self.options):
            raise ValueError("select option values must be unique")
        return self

    def validate_value(self, raw: FormValue) -> FormValue:
        """Check and normalise one submitted value; raise ValueError with a message for the person."""
        if raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list) and not raw):
            if self.required:
                raise ValueError("This field is required.")
            return None
        if self.type is FieldType.NUMBER:
            return self._number(raw)
        if self.type.is_list:
            return self._list(raw)
        if isinstance(raw, list):
            raise ValueError("Give one value here, not a list.")
        if self.type is FieldType.DATETIME:
            return _moment(raw)
        text = str(raw).strip()
        if self.type in _LENGTHS:
            if self.min_length is not None and len(text) < self.min_length:
                raise ValueError(f"Write at least {self.min_length} characters.")
            limit = self.max_length or 3000
            if len(text) > limit:
                raise ValueError(f"Keep it under {limit} characters (this is {len(text)}).")
            return text
        if self.type is FieldType.DATE:
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise ValueError("Pick a date (YYYY-MM-DD).") from None
        if self.type is FieldType.USER:
            if not _USER_ID.fullmatch(text):
                raise ValueError("Pick a person.")
            return text
        if self.type is FieldType.EMAIL:
            if len(text) > 254 or not _ADDRESS.fullmatch(text):
                raise ValueError("Enter an email address, such as name@example.com.")
            return text
        if self.type is FieldType.URL:
            return _web_address(text)
        if text not in {option.value for option in self.options}:
            raise ValueError("Pick one of the options.")
        return text

    def _list(self, raw: FormValue) -> list[str] | list[FileRef]:
        items = raw if isinstance(raw, list) else [raw]
        if self.type is FieldType.FILE:
            return self._files(items)
        chosen = list(dict.fromkeys(str(item).strip() for item in items))
        if self.type is FieldType.MULTI_USER:
            if not all(_USER_ID.fullmatch(user) for user in chosen):
                raise ValueError("Pick people from the list.")
            noun = "person" if (self.min_selected or 1) == 1 else "people"
            plural = "people"
        else:
            known = [option.value for option in self.options]
            if not set(chosen) <= set(known):
                raise ValueError("Pick among the options.")
            chosen = [value for value in known if value in chosen]  # in the form's order, whatever the click order
            noun, plural = "option", "options"
        if self.min_selected is not None and len(chosen) < self.min_selected:
            raise ValueError(f"Pick at least {self.min_selected} {noun if self.min_selected == 1 else plural}.")
        if self.max_selected is not None and len(chosen) > self.max_selected:
            raise ValueError(f"Pick at most {self.max_selected} {noun if self.max_selected == 1 else plural}.")
        return chosen

    def _files(self, items: list[Any]) -> list[FileRef]:
        files: list[FileRef] = []
        for item in items:
            if not isinstance(item, dict):
                raise ValueError("Attach the file through the form.")
            file_id, name, permalink = (item.get(key) for key in ("id", "name", "permalink"))
            if not (isinstance(file_id, str) and _FILE_ID.fullmatch(file_id) and isinstance(name, str) and name):
                raise ValueError("Attach the file through the form.")
            if not isinstance(permalink, str) or not _is_web_address(permalink):
                raise ValueError(f"{name} has no link Baton can show.")
            extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            if self.filetypes and extension not in self.filetypes:
                raise ValueError(f"{name} is not one of: {', '.join(self.filetypes)}.")
            if all(known["id"] != file_id for known in files):
                files.append({"id": file_id, "name": name[:255], "permalink": permalink})
        limit = self.max_files or _MAX_FILES
        if len(files) > limit:
            raise ValueError(f"Attach at most {limit} file{'s' if limit != 1 else ''} (these are {len(files)}).")
        return files

    def _number(self, raw: FormValue) -> float | int:
        if isinstance(raw, list):
            raise ValueError("Enter a number, e.g. 1250.50.")
        text = str(raw).strip().replace(",", "") if not isinstance(raw, int | float) else raw
        try:
            number = float(text)
        except (ValueError, OverflowError):
            raise ValueError("Enter a number, e.g. 1250.50.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("Enter a finite number.")
        if self.min is not None and number < self.min:
            raise ValueError(f"The smallest allowed value is {_show(self.min)}.")
        if self.max is not None and number > self.max:
            raise ValueError(f"The largest allowed value is {_show(self.max)}.")
        number = round(number, self.decimals)
        return int(number) if number.is_integer() else number


def _moment(raw: str | int | float | bool) -> str:
    """A date and time as UTC ISO 8601 (`2026-12-03T14:30:00Z`): from Slack's Unix timestamp, or ISO text with a
    zone (a time without one could be anyone's)."""
    try:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            moment = datetime.fromtimestamp(raw, UTC)
        else:
            moment = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ValueError("Pick a date and a time.") from None
    if moment.tzinfo is None:
        raise ValueError("Give the time with its zone, such as 2026-12-03T14:30:00Z.")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_web_address(text: str) -> bool:
    if len(text) > 3000 or any(char.isspace() or char in "<>|" for char in text):
        return False
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "." in (parts.hostname or "")


def _web_address(text: str) -> str:
    if not _is_web_address(text):
        raise ValueError("Enter a web address, such as https://example.com/page.")
    return text


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


class StepKind(StrEnum):
    TASK = "task"
    APPROVAL = "approval"
    NOTIFY = "notify"
    WAIT = "wait"  # nobody's work: time passes (a duration, or until a form date), then the request goes on
    REVISION = "revision"  # not written in files: the requester's task when a reviewer asks for changes


class ApprovalRule(StrEnum):
    ANY = "any"  # the first decision decides
    ALL = "all"  # everyone must approve
    QUORUM = "quorum"  # `quorum` approvals decide


class TimeoutAction(StrEnum):
    REASSIGN = "reassign"
    REJECT = "reject"
    APPROVE = "approve"
    CANCEL = "cancel"


def _coerce_span(value: Any) -> Any:
    if isinstance(value, TimeSpan | dict):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a duration is text such as 30s, 4h, 2d or 2 business days")
    if isinstance(value, int):
        raise ValueError(f"{value} has no unit; write e.g. {value}s, {value}m, {value}h or {value}d")
    return parse_span(value)


Span = Annotated[TimeSpan, BeforeValidator(_coerce_span), PlainSerializer(str, return_type=str)]
"""A duration in a workflow file: wall-clock (`30s`, `4h`, `2d`) or business time (`2 business days`)."""


def _wall_clock_only(span: TimeSpan | None) -> TimeSpan | None:
    """Reminder offsets and repeat cadences are plain durations: delivery already waits for working hours."""
    if span is not None and span.business:
        raise ValueError(
            "use a plain duration here (such as 4h or 1d), not business time: reminders and escalations already "
            "wait for the recipient's working hours"
        )
    return span


class ReminderPolicy(_Frozen):
    """When to nudge the assignee: before the due time, at it, and how often while overdue."""

    before: Span | None = None
    at_due: bool = True
    repeat: Span | None = None

    @field_validator("before", "repeat")
    @classmethod
    def _wall_clock(cls, span: TimeSpan | None) -> TimeSpan | None:
        return _wall_clock_only(span)


class EscalationPolicy(_Frozen):
    """Who hears about a task that stays overdue, and after how long; `to` is a ladder, climbed in order."""

    after: Span
    to: tuple[str, ...] = ("assignee.manager",)
    repeat: Span | None = None

    @field_validator("repeat")
    @classmethod
    def _wall_clock(cls, span: TimeSpan | None) -> TimeSpan | None:
        return _wall_clock_only(span)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any, info: ValidationInfo) -> Any:
        return _people_by_email((value,) if isinstance(value, str) else value, info)

    @field_validator("to")
    @classmethod
    def _names_people(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one person or role to escalate to")
        for ref in value:
            AssigneeRef.parse(ref, allow_assignee=True)
        return value


def _wait_length_text(value: str) -> str:
    parse_wait_length(value)
    return " ".join(value.strip().split())


WaitText = Annotated[str, Field(max_length=80)]


class ExtendPolicy(_Frozen):
    """`extend:` on a wait: the requester may ask for more time (*Extend…*), which goes to `approver` for a
    yes or no; at most `most_days` days a time."""

    approver: tuple[str, ...] = ("requester.manager",)
    most_days: Annotated[int, Field(ge=1, le=365)] = 30

    @field_validator("approver", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any, info: ValidationInfo) -> Any:
        return _people_by_email((value,) if isinstance(value, str) else value, info)

    @field_validator("approver")
    @classmethod
    def _names_people(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name who approves an extension, e.g. requester.manager")
        for ref in value:
            AssigneeRef.parse(ref)
        return value


class RevokeTask(_Frozen):
    """What is done when a grant lapses: a task (by default for whoever granted it)."""

    title: Annotated[str, Field(min_length=1, max_length=150)]
    assignee: tuple[str, ...] = ()
    due: Span | None = None

    @field_validator("assignee", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any, info: ValidationInfo) -> Any:
        return _people_by_email((value,) if isinstance(value, str) else value, info)

    @field_validator("assignee")
    @classmethod
    def _names_people(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ref in value:
            AssigneeRef.parse(ref)
        return value


class Expiry(_Frozen):
    """`expires:` on a task or approval: what it grants lapses `after` it is done (`30 days`, `form.days days`),
    the requester is reminded `remind_before`, may ask to extend, and then `revoke` is done."""

    after: WaitText
    title: Annotated[str | None, Field(max_length=150)] = None
    remind_before: Span | None = None
    extend: ExtendPolicy | None = None
    revoke: RevokeTask

    @field_validator("after")
    @classmethod
    def _readable_length(cls, value: str) -> str:
        return _wait_length_text(value)

    @field_validator("remind_before")
    @classmethod
    def _wall_clock(cls, span: TimeSpan | None) -> TimeSpan | None:
        return _wall_clock_only(span)


class Step(_Frozen):
    """One step: a task to do, an approval to give, or a notification to send."""

    id: Annotated[str, Field(pattern=_ID, max_length=40)]
    type: StepKind = StepKind.TASK
    title: Annotated[str, Field(max_length=150)] = ""
    description: Annotated[str | None, Field(max_length=2000)] = None
    assignee: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    text: Annotated[str | None, Field(max_length=2000)] = None
    when: str | None = None
    due: Span | None = None
    remind: ReminderPolicy | None = None
    escalate: EscalationPolicy | None = None
    timeout: Span | None = None
    on_timeout: TimeoutAction | None = None
    allow_self_approval: bool = False
    escalation_may_act: bool = False
    rule: ApprovalRule = ApprovalRule.ANY
    quorum: Annotated[int | None, Field(ge=1, le=100)] = None
    rejections_to_reject: Annotated[int, Field(ge=1, le=100)] = 1
    allow_changes: bool = True
    cost_per_hour: Annotated[float | None, Field(ge=0, le=1_000_000)] = None  # what an hour of this step costs
    approve_label: Annotated[str, Field(min_length=1, max_length=30)] = "Approve"  # the buttons' words
    reject_label: Annotated[str, Field(min_length=1, max_length=30)] = "Reject"
    until: Annotated[str | None, Field(pattern=r"^form\.[a-z][a-z0-9_]*$")] = None  # a wait: until this form date
    duration: Annotated[WaitText | None, Field(validation_alias=AliasChoices("for", "duration"))] = None  # or so long
    extend: ExtendPolicy | None = None  # a wait the requester may ask to extend
    expires: Expiry | None = None  # a task or approval whose grant lapses

    @field_validator("duration")
    @classmethod
    def _readable_length(cls, value: str | None) -> str | None:
        return _wait_length_text(value) if value is not None else None

    @field_validator("assignee", "to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any, info: ValidationInfo) -> Any:
        return _people_by_email((value,) if isinstance(value, str) else value, info)

    @field_validator("type", mode="before")
    @classmethod
    def _written_kinds(cls, value: Any) -> Any:
        written = ("task", "approval", "notify", "wait")
        if value not in written and not isinstance(value, StepKind):
            hint = did_you_mean(str(value), written)
            raise ValueError(f"Input should be 'task', 'approval', 'notify' or 'wait'{hint}")
        return value

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Step:
        if self.type is not StepKind.APPROVAL and (
            self.rule is not ApprovalRule.ANY or self.quorum is not None or self.rejections_to_reject != 1
        ):
            raise ValueError("rule, quorum and rejections_to_reject apply to approval steps")
        if self.type is not StepKind.APPROVAL and (self.approve_label, self.reject_label) != ("Approve", "Reject"):
            raise ValueError("approve_label and reject_label apply to approval steps")
        if (self.rule is ApprovalRule.QUORUM) != (self.quorum is not None):
            raise ValueError("rule: quorum needs `quorum: N`, and `quorum` needs rule: quorum")
        if self.type is StepKind.WAIT:
            self._fits_a_wait()
            return self
        if self.until or self.duration or self.extend:
            raise ValueError("until, for and extend belong to wait steps")
        if self.expires is not None and self.type is StepKind.NOTIFY:
            raise ValueError("expires applies to task and approval steps: what they grant lapses")
        if self.expires is not None and len(self.id) > 32:
            raise ValueError("a step that expires has an id of 32 characters at most (its lapse adds _expiry)")
        if self.type is StepKind.NOTIFY:
            if not self.to:
                raise ValueError("a notify step needs `to` (people, groups or #channels)")
            if not self.text:
                raise ValueError("a notify step needs `text`")
            if self.assignee:
                raise ValueError("a notify step has `to`, not `assignee`")
            for ref in self.to:
                AssigneeRef.parse(ref, allow_channel=True)
        else:
            if not self.title:
                raise ValueError(f"a {self.type.value} step needs a `title`")
            if not self.assignee:
                raise ValueError(f"a {self.type.value} step needs an `assignee`")
            if self.to or self.text:
                raise ValueError(f"`to` and `text` belong to notify steps, not {self.type.value} steps")
            for ref in self.assignee:
                AssigneeRef.parse(ref)
        if self.when is not None:
            Condition.parse(self.when)
        if self.on_timeout is TimeoutAction.APPROVE and self.type is not StepKind.APPROVAL:
            raise ValueError("on_timeout: approve only applies to approval steps")
        if (self.on_timeout or self.remind or self.escalate or self.timeout) and self.due is None:
            raise ValueError("remind, escalate, timeout and on_timeout need a `due` duration")
        if self.timeout is not None and self.on_timeout is None:
            raise ValueError("timeout needs on_timeout: reassign, reject, approve or cancel")
        if self.on_timeout is TimeoutAction.REASSIGN and self.escalate is None:
            raise ValueError("on_timeout: reassign hands the task to the escalation ladder; add `escalate`")
        return self

    def _fits_a_wait(self) -> None:
        if (self.until is None) == (self.duration is None):
            raise ValueError("a wait step needs either `until: form.<date field>` or `for:` a duration (3 days)")
        written = {
            "assignee": self.assignee, "to": self.to, "text": self.text, "due": self.due,
            "escalate": self.escalate, "timeout": self.timeout, "on_timeout": self.on_timeout,
            "expires": self.expires,
        }  # fmt: skip
        misplaced = [key for key, value in written.items() if value]
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)} do not apply to a wait step: it is nobody's work")
        if self.remind is not None and (self.remind.repeat is not None or self.remind.before is None):
            raise ValueError("a wait step reminds only `before` it ends (remind: {before: 1d}), the requester")

    @property
    def wait_length(self) -> WaitLength | None:
        return parse_wait_length(self.duration) if self.duration else None

    @property
    def shown_title(self) -> str:
        """The title as written, or for a wait without one, what it waits for."""
        if self.title or self.type is not StepKind.WAIT:
            return self.title
        return f"Waiting until {{{self.until}}}" if self.until else f"Waiting {self.duration}"

    def lapse_steps(self) -> tuple[Step, Step]:
        """For a step that `expires`: the wait until its grant lapses, then the revoke task."""
        assert self.expires is not None
        expiry = self.expires
        remind = ReminderPolicy(before=expiry.remind_before, at_due=False) if expiry.remind_before else None
        counted_by = parse_wait_length(expiry.after).field
        when = self.when  # skipped with the step; and a grant for an empty number of days does not lapse
        if counted_by is not None:
            when = f"form.{counted_by} > 0" + (f" and ({self.when})" if self.when else "")
        wait = Step(
            id=f"{self.id}_expiry", type=StepKind.WAIT, title=expiry.title or f"Access from “{self.title}”",
            duration=expiry.after, remind=remind, extend=expiry.extend, when=when,
        )  # fmt: skip
        revoke = Step(
            id=f"{self.id}_revoke", type=StepKind.TASK, title=expiry.revoke.title,
            assignee=expiry.revoke.assignee or self.assignee, due=expiry.revoke.due, when=when,
        )  # fmt: skip
        return wait, revoke

    @property
    def assignee_refs(self) -> tuple[AssigneeRef, ...]:
        return tuple(AssigneeRef.parse(ref) for ref in self.assignee)

    @property
    def target_refs(self) -> tuple[AssigneeRef, ...]:
        return tuple(AssigneeRef.parse(ref, allow_channel=True) for ref in self.to)

    @property
    def condition(self) -> Condition | None:
        return Condition.parse(self.when) if self.when else None

    def people_refs(self) -> tuple[AssigneeRef, ...]:
        """Every reference to people in this step (assignees, targets, escalation ladder)."""
        escalation = (
            tuple(AssigneeRef.parse(ref, allow_assignee=True) for ref in self.escalate.to) if self.escalate else ()
        )
        extension = tuple(AssigneeRef.parse(ref) for ref in self.extend.approver) if self.extend else ()
        return self.assignee_refs + self.target_refs + escalation + extension


class ParallelGroup(_Frozen):
    """Steps that run at the same time; the group is done when all of them are."""

    parallel: Annotated[tuple[Step, ...], Field(min_length=1)]


def _stage_kind(value: Any) -> str:
    return (
        "parallel"
        if isinstance(value, dict | ParallelGroup) and (isinstance(value, ParallelGroup) or "parallel" in value)
        else "step"
    )


Stage = Annotated[
    Annotated[Step, Tag("step")] | Annotated[ParallelGroup, Tag("parallel")],
    Discriminator(_stage_kind),
]


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _people_by_email(value: Any, info: ValidationInfo) -> Any:
    """A person named by email in a workflow file becomes their Slack user ID, by the emails org.yaml lists (the
    loader's validation context `emails`); without that context, emails are left for the usual checks to refuse."""
    emails = (info.context or {}).get("emails")
    if emails is None:
        return value
    if isinstance(value, str):
        return _user_of_email(value, emails)
    if isinstance(value, list | tuple):
        return tuple(_user_of_email(item, emails) if isinstance(item, str) else item for item in value)
    return value


def _user_of_email(text: str, emails: dict[str, str]) -> str:
    if not _EMAIL.match(text.strip()):
        return text
    user_id = emails.get(text.strip().lower())
    if user_id is None:
        raise ValueError(f"{text.strip()!r} is not the email of anyone in org.yaml{did_you_mean(text, emails)}")
    return user_id


class StartPolicy(_Frozen):
    """Who may start a workflow, and what starts it besides a person: someone joining, or the calendar
    (`schedule`, started as `requester` with the `form` values given here)."""

    allowed: tuple[str, ...] = ("everyone",)
    on_team_join: Annotated[str | None, Field(pattern=_ID)] = None
    announce_in_channel: bool = False  # post a progress card in the channel the request was started from
    schedule: Annotated[str | None, Field(max_length=200)] = None
    requester: Annotated[str | None, Field(pattern=r"^[UW][A-Z0-9]{2,}$")] = None
    form: dict[str, FormValue] = {}

    @field_validator("schedule")
    @classmethod
    def _readable_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_recurrence(value)
        return value

    @model_validator(mode="after")
    def _scheduled_as_someone(self) -> StartPolicy:
        if self.schedule is not None and self.requester is None:
            raise ValueError("a schedule needs `requester`: the person each scheduled request is started as")
        if self.schedule is None and (self.requester is not None or self.form):
            raise ValueError("`requester` and `form` under start: belong to a `schedule`")
        return self

    @property
    def recurrence(self) -> Recurrence | None:
        return parse_recurrence(self.schedule) if self.schedule else None

    @field_validator("allowed", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any, info: ValidationInfo) -> Any:
        return _people_by_email((value,) if isinstance(value, str) else value, info)

    @field_validator("requester", mode="before")
    @classmethod
    def _requester_by_email(cls, value: Any, info: ValidationInfo) -> Any:
        return _people_by_email(value, info)

    @field_validator("allowed")
    @classmethod
    def _names_people(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ref in value:
            if ref != "everyone":
                AssigneeRef.parse(ref)
        return value


class WorkflowDefinition(_Frozen):
    """A whole workflow file."""

    name: Annotated[str, Field(pattern=_WORKFLOW_NAME, max_length=40)]
    title: Annotated[str, Field(min_length=1, max_length=24)]
    description: Annotated[str, Field(max_length=500)] = ""
    owners: tuple[Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$")], ...] = ()  # Slack user IDs
    start: StartPolicy = StartPolicy()
    form: tuple[FormField, ...] = ()
    steps: Annotated[tuple[Stage, ...], Field(min_length=1)]
    defaults: Annotated[dict[str, Any], Field(default_factory=dict)]
    report: ReportSchedule | None = None
    webhooks: tuple[WebhookSpec, ...] = ()
    satisfaction: bool = True  # the requester may rate the outcome (1 to 5) from the outcome DM

    @field_validator("owners", mode="before")
    @classmethod
    def _owners_by_email(cls, value: Any, info: ValidationInfo) -> Any:
        return _people_by_email(value, info)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        """Fill due/remind/escalate/on_timeout of each task step from the workflow-level `defaults` block."""
        if not isinstance(data, dict) or not isinstance(data.get("defaults"), dict):
            return data
        defaults = data["defaults"]
        unknown = set(defaults) - {"due", "remind", "escalate", "timeout", "on_timeout"}
        if unknown:
            names = ", ".join(sorted(map(str, unknown)))
            raise ValueError(f"defaults may set due, remind, escalate, timeout, on_timeout; not {names}")
        problems = []  # checked here, so a mistake is reported at defaults, not again at every step
        for key, value in defaults.items():
            try:
                TypeAdapter(Step.model_fields[key].rebuild_annotation()).validate_python(value)
            except ValidationError as error:
                first = error.errors(include_url=False)[0]
                where = ".".join(str(part) for part in (key, *first["loc"]))
                problems.append(f"defaults.{where}: {first['msg'].removeprefix('Value error, ')}")
        if problems:
            raise ValueError("\n".join(problems))
        steps = data.get("steps")
        if not isinstance(steps, list):
            return data

        def fill(step: Any) -> Any:
            if not isinstance(step, dict) or step.get("type") in (StepKind.NOTIFY.value, StepKind.WAIT.value):
                return step
            return {**defaults, **step}

        data = dict(data)
        data["steps"] = [
            {**stage, "parallel": [fill(s) for s in stage["parallel"]]}
            if isinstance(stage, dict) and isinstance(stage.get("parallel"), list)
            else fill(stage)
            for stage in steps
        ]
        return data

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> WorkflowDefinition:
        fields = {field.id: field for field in self.form}
        if len(fields) != len(self.form):
            raise ValueError("form field ids must be unique")
        step_ids = [step.id for step in self.all_steps()]
        duplicates = sorted({step_id for step_id in step_ids if step_ids.count(step_id) > 1})
        if duplicates:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(duplicates)}")
        groups = (info.context or {}).get("groups") if info and info.context else None
        problems: list[str] = []  # every one of them, one per line: `check` reports them all at once

        def check_ref(where: str, ref: AssigneeRef) -> None:
            try:
                self._check_ref(where, ref, fields, groups)
            except ValueError as error:
                problems.append(str(error))

        for step in self.all_steps():
            where = f"step {step.id}"
            for ref in step.people_refs():
                check_ref(where, ref)
            condition = step.condition
            for name in condition.references if condition else ():
                if name not in fields:
                    hint = did_you_mean(name, fields, shown="form.{}")
                    problems.append(f"{where}: condition uses form.{name}, which the form does not have{hint}")
            for text in (step.title, step.description or "", step.text or ""):
                problems.extend(self._template_problems(where, text, fields))
            problems.extend(self._wait_problems(where, step, fields))
        for allowed in self.start.allowed:
            if allowed != "everyone":
                check_ref("start", AssigneeRef.parse(allowed))
        if self.start.schedule is not None:
            unknown = sorted(set(self.start.form) - set(fields))
            for name in unknown:
                problems.append(f"start.form.{name}: the form has no such field{did_you_mean(name, fields)}")
            _clean, wrong = self.validate_form(self.start.form)
            problems.extend(f"start.form.{name}: {message}" for name, message in wrong.items())
        field_name = self.start.on_team_join
        if field_name and (field_name not in fields or fields[field_name].type is not FieldType.USER):
            problems.append(f"start.on_team_join must name a user field of the form; {field_name!r} is not one")
        if problems:
            raise ValueError("\n".join(dict.fromkeys(problems)))
        return self

    @staticmethod
    def _wait_problems(where: str, step: Step, fields: dict[str, FormField]) -> list[str]:
        """A wait names the form's date field it waits until, or the number field its length comes from."""
        problems = []
        if step.until is not None:
            field = fields.get(step.until.removeprefix("form."))
            if field is None:
                hint = did_you_mean(step.until.removeprefix("form."), fields, shown="form.{}")
                problems.append(f"{where}: {step.until!r} is not a field of the form{hint}")
            elif field.type not in (FieldType.DATE, FieldType.DATETIME):
                problems.append(f"{where}: {step.until!r} must be a date or datetime field to wait until")
        length = step.wait_length
        if length is not None and length.field is not None:
            field = fields.get(length.field)
            if field is None:
                hint = did_you_mean(length.field, fields, shown="form.{}")
                problems.append(f"{where}: {step.duration!r} counts with form.{length.field}, not in the form{hint}")
            elif field.type is not FieldType.NUMBER:
                problems.append(f"{where}: {step.duration!r} counts with form.{length.field}, which must be a number")
        return problems

    @staticmethod
    def _check_ref(where: str, ref: AssigneeRef, fields: dict[str, FormField], groups: Any) -> None:
        if ref.kind in ("form", "form_manager"):
            field = fields.get(ref.name)
            if field is None:
                hint = did_you_mean(ref.name, fields, shown="form.{}")
                raise ValueError(f"{where}: {ref} refers to a form field the form does not have{hint}")
            if field.type is not FieldType.USER:
                raise ValueError(f"{where}: {ref} must be a user field to name a person")
        if ref.kind == "group" and groups is not None and ref.name not in groups:
            known = ", ".join(sorted(groups)) or "none"
            hint = did_you_mean(ref.name, groups, shown="group:{}")
            raise ValueError(f"{where}: group {ref.name!r} is not in org.yaml{hint} (groups: {known})")

    @staticmethod
    def _template_problems(where: str, text: str, fields: dict[str, FormField]) -> list[str]:
        problems = []
        for name in sorted(template_references(text)):
            if name.startswith("form."):
                if name[5:] not in fields:
                    hint = did_you_mean(name[5:], fields, shown="{{form.{}}}")
                    problems.append(f"{where}: {{{name}}} refers to a form field the form does not have{hint}")
            elif name not in _TEMPLATE_NAMES:
                allowed = ", ".join("{" + n + "}" for n in sorted(_TEMPLATE_NAMES))
                problems.append(f"{where}: unknown placeholder {{{name}}}; use {{form.<field>}} or {allowed}")
        return problems

    @cached_property
    def stages(self) -> tuple[Step | ParallelGroup, ...]:
        """The stages a request goes through: `steps` as written, each step that `expires` followed by the wait
        until its grant lapses and the revoke task (inside a parallel group, those two follow the group)."""
        stages: list[Step | ParallelGroup] = []
        for stage in self.steps:
            stages.append(stage)
            members = stage.parallel if isinstance(stage, ParallelGroup) else (stage,)
            for step in members:
                if step.expires is not None:
                    stages.extend(step.lapse_steps())
        return tuple(stages)

    def all_steps(self) -> tuple[Step, ...]:
        """Every step, in order, parallel groups flattened (with the lapse steps of those that expire)."""
        return tuple(
            step for stage in self.stages for step in (stage.parallel if isinstance(stage, ParallelGroup) else (stage,))
        )

    def stage_steps(self, index: int) -> tuple[Step, ...]:
        """The steps of one stage."""
        stage = self.stages[index]
        return stage.parallel if isinstance(stage, ParallelGroup) else (stage,)

    def step(self, step_id: str) -> Step:
        """Look a step up by id."""
        for step in self.all_steps():
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def field(self, field_id: str) -> FormField | None:
        """Look a form field up by id."""
        return next((field for field in self.form if field.id == field_id), None)

    @property
    def version(self) -> str:
        """A content hash: instances remember the version they started on."""
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def attachments(self, form: Mapping[str, FormValue]) -> list[FileRef]:
        """The files attached to a form's file fields, in the form's order."""
        files: list[FileRef] = []
        for field in self.form:
            value = form.get(field.id)
            if field.type is FieldType.FILE and isinstance(value, list):
                files.extend(item for item in value if isinstance(item, dict))
        return files

    def validate_form(
        self, raw: dict[str, FormValue], *, partial: bool = False
    ) -> tuple[dict[str, FormValue], dict[str, str]]:
        """Validate submitted values; return (clean values, errors by field id).

        `partial` accepts missing fields (a workflow started by an event fills only what it knows)."""
        clean: dict[str, FormValue] = {}
        errors: dict[str, str] = {}
        for field in self.form:
            if partial and raw.get(field.id) is None:
                clean[field.id] = None
                continue
            try:
                clean[field.id] = field.validate_value(raw.get(field.id))
            except ValueError as error:
                errors[field.id] = str(error)
        return clean, errors
