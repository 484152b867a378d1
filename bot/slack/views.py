"""Modals: a workflow's start form, the reject reason and the done note; and reading their submissions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.engine import FieldType, FileRef, FormField, FormValue, WorkflowDefinition

from .blocks import Block, clip, context, fit_blocks, plain, section
from .rich_text import rich_text_of, rich_text_plain

__all__ = [
    "CALLBACK_CHANGES",
    "CALLBACK_COMMENT",
    "CALLBACK_HAND_OVER",
    "CALLBACK_PICK_WORKFLOW",
    "CALLBACK_RESUBMIT",
    "changes_view",
    "comment_view",
    "hand_over_view",
    "notice_view",
    "pick_workflow_view",
    "submitted_user",
    "CALLBACK_DONE_NOTE",
    "CALLBACK_EXTEND",
    "CALLBACK_REJECT_REASON",
    "CALLBACK_START_FORM",
    "done_note_view",
    "field_block_id",
    "reject_reason_view",
    "start_form_view",
    "submitted_form",
    "submitted_text",
]

CALLBACK_START_FORM = "start_form"
CALLBACK_REJECT_REASON = "reject_reason"
CALLBACK_DONE_NOTE = "done_note"
CALLBACK_RESUBMIT = "resubmit_form"
CALLBACK_CHANGES = "changes_reason"
CALLBACK_HAND_OVER = "hand_over"
CALLBACK_COMMENT = "add_comment"
CALLBACK_PICK_WORKFLOW = "pick_workflow"
CALLBACK_EXTEND = "extend_wait"
_VALUE = "value"
COMMENT_LIMIT = 2000


def field_block_id(field_id: str) -> str:
    return f"field:{field_id}"


def start_form_view(
    definition: WorkflowDefinition,
    *,
    origin_channel: str | None,
    initial: Mapping[str, FormValue] | None = None,
    files_kept: bool = False,
) -> dict[str, Any]:
    """The modal that collects a workflow's start form (prefilled with `initial` values, if any); `files_kept`
    when files already attached stay unless new ones are attached (a resubmission), else they are asked again."""
    blocks: list[Block] = []
    if definition.description:
        blocks.append(section(definition.description))
    for field in definition.form:
        value = (initial or {}).get(field.id)
        blocks.append(_input(field, None if field.type is FieldType.FILE and not files_kept else value))
    return {
        "type": "modal",
        "callback_id": CALLBACK_START_FORM,
        "private_metadata": json.dumps({"workflow": definition.name, "channel": origin_channel}),
        "title": plain(definition.title, 24),
        "submit": plain("Start", 24),
        "close": plain("Cancel", 24),
        "blocks": fit_blocks(blocks, 100),
    }


def _input(field: FormField, initial: FormValue = None) -> Block:
    element = _element(field)
    element["action_id"] = _VALUE
    optional = not field.required
    hint = field.help or ""
    if initial is not None and field.type is FieldType.FILE:  # Slack cannot show files already attached
        files = initial if isinstance(initial, list) else []
        names = ", ".join(str(f.get("name")) for f in files if isinstance(f, dict))
        hint = clip(f"Attached: {names}. Leave empty to keep them; new files replace them. {hint}".strip(), 2000)
        optional = True
    elif initial is not None:
        _prefill(field, element, initial)
    block: Block = {
        "type": "input",
        "block_id": field_block_id(field.id),
        "label": plain(field.label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _options(field: FormField) -> list[dict[str, Any]]:
    return [_option(field, option.value) for option in field.options]


def _option(field: FormField, value: str) -> dict[str, Any]:
    label = next((o.label for o in field.options if o.value == value), value)
    return {"text": plain(label, 75), "value": value}


def _element(field: FormField) -> dict[str, Any]:
    """The Block Kit element that asks for one field, with Slack's own limits."""
    kind = field.type
    element: dict[str, Any]
    if kind is FieldType.TEXT:
        element = {"type": "plain_text_input", "multiline": field.multiline}
        if field.min_length is not None:
            element["min_length"] = field.min_length
        element["max_length"] = field.max_length or 3000
    elif kind is FieldType.NUMBER:
        element = {"type": "number_input", "is_decimal_allowed": field.decimals > 0}
        if field.min is not None:
            element["min_value"] = _number_text(field.min, field.decimals)
        if field.max is not None:
            element["max_value"] = _number_text(field.max, field.decimals)
    elif kind is FieldType.DATE:
        element = {"type": "datepicker"}
    elif kind is FieldType.DATETIME:
        element = {"type": "datetimepicker"}
    elif kind is FieldType.USER:
        element = {"type": "users_select", "placeholder": plain("Pick a person", 150)}
    elif kind is FieldType.MULTI_USER:
        element = {"type": "multi_users_select", "placeholder": plain("Pick people", 150)}
    elif kind is FieldType.SELECT:
        element = {"type": "static_select", "placeholder": plain("Choose", 150), "options": _options(field)}
    elif kind is FieldType.MULTI_SELECT:
        element = {"type": "multi_static_select", "placeholder": plain("Choose", 150), "options": _options(field)}
    elif kind is FieldType.CHECKBOXES:
        element = {"type": "checkboxes", "options": _options(field)}
    elif kind is FieldType.RADIO:
        element = {"type": "radio_buttons", "options": _options(field)}
    elif kind is FieldType.EMAIL:
        element = {"type": "email_text_input", "placeholder": plain("name@example.com", 150)}
    elif kind is FieldType.URL:
        element = {"type": "url_text_input", "placeholder": plain("https://", 150)}
    elif kind is FieldType.RICH_TEXT:
        element = {"type": "rich_text_input"}
    else:
        element = {"type": "file_input", "max_files": field.max_files or 10}
        if field.filetypes:
            element["filetypes"] = list(field.filetypes)
    if field.max_selected is not None and kind in (FieldType.MULTI_SELECT, FieldType.MULTI_USER):
        element["max_selected_items"] = field.max_selected  # checkboxes have no such limit: Baton checks it
    return element


def _prefill(field: FormField, element: dict[str, Any], value: FormValue) -> None:
    items = [str(item) for item in value] if isinstance(value, list) else [str(value)]
    kind = field.type
    if kind is FieldType.DATE:
        element["initial_date"] = str(value)
    elif kind is FieldType.DATETIME:
        stamp = _timestamp(str(value))
        if stamp is not None:
            element["initial_date_time"] = stamp
    elif kind is FieldType.USER:
        element["initial_user"] = str(value)
    elif kind is FieldType.MULTI_USER:
        element["initial_users"] = items
    elif kind in (FieldType.SELECT, FieldType.RADIO):
        if any(o.value == value for o in field.options):
            element["initial_option"] = _option(field, str(value))
    elif kind in (FieldType.MULTI_SELECT, FieldType.CHECKBOXES):
        known = [item for item in items if any(o.value == item for o in field.options)]
        if known:
            element["initial_options"] = [_option(field, item) for item in known]
    elif kind is FieldType.RICH_TEXT:
        element["initial_value"] = rich_text_of(str(value))
    else:
        element["initial_value"] = clip(str(value), 3000)


def _timestamp(moment: str) -> int | None:
    try:
        return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def submitted_form(definition: WorkflowDefinition, state_values: Any) -> dict[str, FormValue]:
    """Read a start form's submitted values, tolerating any shape Slack (or anyone) sends."""
    values: dict[str, FormValue] = {}
    if not isinstance(state_values, dict):
        return values
    for field in definition.form:
        block = state_values.get(field_block_id(field.id))
        element = block.get(_VALUE) if isinstance(block, dict) else None
        values[field.id] = _element_value(element)
    return values


def _element_value(element: Any) -> FormValue:
    if not isinstance(element, dict):
        return None
    for key in ("value", "selected_date", "selected_user"):
        value = element.get(key)
        if isinstance(value, str):
            return value
    option = element.get("selected_option")
    if isinstance(option, dict) and isinstance(option.get("value"), str):
        return str(option["value"])
    options = element.get("selected_options")
    if isinstance(options, list):
        return [str(o["value"]) for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]
    users = element.get("selected_users")
    if isinstance(users, list):
        return [user for user in users if isinstance(user, str)]
    moment = element.get("selected_date_time")
    if isinstance(moment, int | float) and not isinstance(moment, bool):
        return moment
    rich = element.get("rich_text_value")
    if isinstance(rich, dict):
        return rich_text_plain(rich)
    files = element.get("files")
    if isinstance(files, list):
        return [_file_ref(item) for item in files if isinstance(item, dict)]
    return None


def _file_ref(item: dict[str, Any]) -> FileRef:
    """What Baton keeps of an uploaded file: enough to show it as a link and to find it again."""
    return {key: item[key] for key in ("id", "name", "permalink") if isinstance(item.get(key), str)}


def _text_modal(
    callback_id: str, task_id: str, title: str, intro: str, label: str, *, required: bool
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": task_id,
        "title": plain(title, 24),
        "submit": plain("Send", 24),
        "close": plain("Back", 24),
        "blocks": [
            section(intro),
            {
                "type": "input",
                "block_id": "comment",
                "label": plain(label, 2000),
                "optional": not required,
                "element": {
                    "type": "plain_text_input",
                    "action_id": _VALUE,
                    "multiline": True,
                    "max_length": COMMENT_LIMIT,
                },
            },
            context(f"Request #{task_id.split('.')[0]}"),
        ],
    }


def reject_reason_view(task_id: str, task_title: str) -> dict[str, Any]:
    """Ask why, before recording a rejection."""
    return _text_modal(
        CALLBACK_REJECT_REASON,
        task_id,
        "Reject",
        f"You are rejecting *{clip(task_title, 300)}*. The requester will see your reason.",
        "Reason",
        required=True,
    )


def done_note_view(task_id: str, task_title: str) -> dict[str, Any]:
    """Mark a task done with a note for the requester."""
    return _text_modal(
        CALLBACK_DONE_NOTE, task_id, "Mark done", f"Marking *{clip(task_title, 300)}* as done.", "Note", required=False
    )


def submitted_text(state_values: Any) -> str | None:
    """The comment typed into a reject or done modal."""
    if not isinstance(state_values, dict):
        return None
    block = state_values.get("comment")
    value = _element_value(block.get(_VALUE) if isinstance(block, dict) else None)
    return value if isinstance(value, str) else None


def changes_view(task_id: str, task_title: str) -> dict[str, Any]:
    """Ask what should change before sending a request back to its requester."""
    return _text_modal(
        CALLBACK_CHANGES,
        task_id,
        "Request changes",
        f"Send *{clip(task_title, 300)}* back to the requester. They edit the form and resubmit; you decide again.",
        "What should change?",
        required=True,
    )


def comment_view(task_id: str, task_title: str) -> dict[str, Any]:
    """Write a comment everyone involved in the request will see."""
    return _text_modal(
        CALLBACK_COMMENT, task_id, "Comment", f"Comment on *{clip(task_title, 300)}*.", "Comment", required=True
    )


def hand_over_view(task_id: str, task_title: str) -> dict[str, Any]:
    """Hand one task to a colleague, with a note."""
    view = _text_modal(
        CALLBACK_HAND_OVER,
        task_id,
        "Hand over",
        f"Hand *{clip(task_title, 300)}* to a colleague.",
        "Note",
        required=False,
    )
    person = {"type": "users_select", "action_id": _VALUE, "placeholder": plain("Pick a person", 150)}
    return _asking_first(view, "person", "To whom?", person)


def _asking_first(view: dict[str, Any], block_id: str, label: str, element: dict[str, Any]) -> dict[str, Any]:
    """A text modal that asks one more thing first, right under its introduction."""
    asked = {"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element}
    blocks = list(view["blocks"])
    return {**view, "blocks": [blocks[0], asked, *blocks[1:]]}


def submitted_user(state_values: Any, block_id: str = "person") -> str | None:
    """The one value of an input block (a picked person, a typed number), or None."""
    if not isinstance(state_values, dict):
        return None
    block = state_values.get(block_id)
    value = _element_value(block.get(_VALUE) if isinstance(block, dict) else None)
    return value if isinstance(value, str) else None


def pick_workflow_view(definitions: Sequence[WorkflowDefinition], *, prefill: str | None = None) -> dict[str, Any]:
    """The global shortcut's first step: which workflow to start."""
    options = [{"text": plain(d.title, 75), "value": d.name} for d in definitions[:100]]
    return {
        "type": "modal",
        "callback_id": CALLBACK_PICK_WORKFLOW,
        "private_metadata": json.dumps({"prefill": prefill}) if prefill else "",
        "title": plain("Start a workflow", 24),
        "submit": plain("Next", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {
                "type": "input",
                "block_id": "workflow",
                "label": plain("Workflow", 2000),
                "element": {"type": "static_select", "action_id": _VALUE, "options": options},
            }
        ]
        if options
        else [section("There are no workflows you can start.")],
    }


def _number_text(value: float, decimals: int) -> str:
    """A bound as Slack's number_input takes it: `10`, not `10.0`, where no decimals are allowed."""
    return str(int(value)) if decimals == 0 and float(value).is_integer() else str(value)


def notice_view(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (what a submission is answered with when it cannot go ahead)."""
    return {"type": "modal", "title": plain(title, 24), "close": plain("Close", 24), "blocks": [section(text)]}


def extension_view(task_id: str, wait_title: str) -> dict[str, Any]:
    """Ask how many more days, and why: the approvers decide on that."""
    view = _text_modal(
        CALLBACK_EXTEND,
        task_id,
        "Ask for more time",
        f"Ask to extend *{clip(wait_title, 300)}*. Your approver decides; until then nothing changes.",
        "Why",
        required=True,
    )
    days = {"type": "number_input", "action_id": _VALUE, "is_decimal_allowed": False, "min_value": "1"}
    return _asking_first(view, "days", "More days", days)


def submitted_days(state_values: Any) -> int | None:
    """The whole number of days typed into the extension modal; None for anything else."""
    value = submitted_user(state_values, "days")  # the typed text, read as any one-value input is
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None
