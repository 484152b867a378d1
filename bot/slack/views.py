"""Modals: a workflow's start form, the reject reason and the done note; and reading their submissions."""

from __future__ import annotations

import json
from typing import Any

from bot.engine import FieldType, FormField, FormValue, WorkflowDefinition

from .blocks import Block, clip, context, fit_blocks, plain, section

__all__ = [
    "CALLBACK_DONE_NOTE",
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
_VALUE = "value"
COMMENT_LIMIT = 2000


def field_block_id(field_id: str) -> str:
    return f"field:{field_id}"


def start_form_view(definition: WorkflowDefinition, *, origin_channel: str | None) -> dict[str, Any]:
    """The modal that collects a workflow's start form."""
    blocks: list[Block] = []
    if definition.description:
        blocks.append(section(definition.description))
    blocks.extend(_input(field) for field in definition.form)
    return {
        "type": "modal",
        "callback_id": CALLBACK_START_FORM,
        "private_metadata": json.dumps({"workflow": definition.name, "channel": origin_channel}),
        "title": plain(definition.title, 24),
        "submit": plain("Start", 24),
        "close": plain("Cancel", 24),
        "blocks": fit_blocks(blocks, 100),
    }


def _input(field: FormField) -> Block:
    element: dict[str, Any]
    if field.type is FieldType.TEXT:
        element = {"type": "plain_text_input", "multiline": field.multiline}
        if field.min_length is not None:
            element["min_length"] = field.min_length
        element["max_length"] = field.max_length or 3000
    elif field.type is FieldType.NUMBER:
        element = {"type": "number_input", "is_decimal_allowed": field.decimals > 0}
        if field.min is not None:
            element["min_value"] = str(field.min)
        if field.max is not None:
            element["max_value"] = str(field.max)
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
            context(f"Task `{task_id}`"),
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
