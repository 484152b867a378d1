"""Modals: a workflow's start form, the reject reason and the done note; and reading their submissions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.engine import FieldType, FormField, FormValue, WorkflowDefinition

from .blocks import Block, clip, context, fit_blocks, plain, section

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
    definition: WorkflowDefinition, *, origin_channel: str | None, initial: Mapping[str, FormValue] | None = None
) -> dict[str, Any]:
    """The modal that collects a workflow's start form (prefilled with `initial` values, if any)."""
    blocks: list[Block] = []
    if definition.description:
        blocks.append(section(definition.description))
    blocks.extend(_input(field, (initial or {}).get(field.id)) for field in definition.form)
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
    element: dict[str, Any]
    if field.type is FieldType.TEXT:
        element = {"type": "plain_text_input", "multiline": field.multiline}
        if field.min_length is not None:
            element["min_length"] = field.min_length
        element["max_length"] = field.max_length or 3000
    elif field.type is FieldType.NUMBER:
        element = {"type": "number_input", "is_decimal_allowed": field.decimals > 0}
        if field.min is not None:
            element["min_value"] = _number_text(field.min, field.decimals)
        if field.max is not None:
            element["max_value"] = _number_text(field.max, field.decimals)
    elif field.type is FieldType.DATE:
        element = {"type": "datepicker"}
    elif field.type is FieldType.USER:
        element = {"type": "users_select", "placeholder": plain("Pick a person", 150)}
    else:
        element = {
            "type": "static_select",
            "placeholder": plain("Choose", 150),
            "options": [{"text": plain(o.label, 75), "value": o.value} for o in field.options[:100]],
        }
    element["action_id"] = _VALUE
    if initial is not None:
        _prefill(field, element, initial)
    block: Block = {
        "type": "input",
        "block_id": field_block_id(field.id),
        "label": plain(field.label, 2000),
        "element": element,
        "optional": not field.required,
    }
    if field.help:
        block["hint"] = plain(field.help, 2000)
    return block


def _prefill(field: FormField, element: dict[str, Any], value: FormValue) -> None:
    if field.type is FieldType.DATE:
        element["initial_date"] = str(value)
    elif field.type is FieldType.USER:
        element["initial_user"] = str(value)
    elif field.type is FieldType.SELECT:
        option = next((o for o in field.options if o.value == value), None)
        if option is not None:
            element["initial_option"] = {"text": plain(option.label, 75), "value": option.value}
    else:
        element["initial_value"] = clip(str(value), 3000)


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
    return None


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
