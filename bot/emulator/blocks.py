"""Block Kit and view checks with Slack's limits and error wording."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "MESSAGE_BLOCK_LIMIT",
    "MESSAGE_TEXT_LIMIT",
    "VIEW_BLOCK_LIMIT",
    "VIEW_SIZE_LIMIT",
    "find_action",
    "validate_blocks",
    "validate_view",
]

MESSAGE_BLOCK_LIMIT: Final = 50
VIEW_BLOCK_LIMIT: Final = 100
MESSAGE_TEXT_LIMIT: Final = 40_000
VIEW_SIZE_LIMIT: Final = 250_000

_BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "call",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
        "context_actions",
        "card",
        "alert",
        "carousel",
    }
)
_ELEMENT_TYPES: Final = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "file_input",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)
_MULTI_SELECTS: Final = frozenset(kind for kind in _ELEMENT_TYPES if kind.startswith("multi_"))
_INPUT_ONLY: Final = frozenset({"file_input", "rich_text_input", "email_text_input", "url_text_input"})
_MAX_FILES: Final = 10
_OPTION_LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "static_select": 100,
        "multi_static_select": 100,
        "overflow": 5,
        "radio_buttons": 10,
        "checkboxes": 10,
    }
)


def _text_problem(obj: Any, pointer: str, max_len: int, *, plain_only: bool = False) -> str | None:
    if not isinstance(obj, dict):
        return f"must be a text object [json-pointer:{pointer}]"
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        return f"must be one of {list(allowed)} [json-pointer:{pointer}/type]"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return f"must be more than 0 characters [json-pointer:{pointer}/text]"
    if len(text) > max_len:
        return f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"
    return None


def _check_text(obj: Any, pointer: str, max_len: int, errors: list[str], *, plain_only: bool = False) -> None:
    problem = _text_problem(obj, pointer, max_len, plain_only=plain_only)
    if problem is not None:
        errors.append(problem)


def _check_options(options: Any, pointer: str, limit: int, errors: list[str]) -> None:
    if not isinstance(options, list):
        errors.append(f"must be an array [json-pointer:{pointer}]")
        return
    if len(options) > limit:
        errors.append(f"must be less than {limit + 1} items [json-pointer:{pointer}]")
    for i, option in enumerate(options):
        p = f"{pointer}/{i}"
        if not isinstance(option, dict):
            errors.append(f"must be an object [json-pointer:{p}]")
            continue
        _check_text(option.get("text"), f"{p}/text", 75, errors)
        value = option.get("value")
        if isinstance(value, str) and len(value) > 150:
            errors.append(f"must be less than 151 characters [json-pointer:{p}/value]")


def _check_element(element: Any, pointer: str, errors: list[str], action_ids: set[str]) -> None:
    if not isinstance(element, dict):
        errors.append(f"must be an object [json-pointer:{pointer}]")
        return
    kind = element.get("type")
    if not isinstance(kind, str):
        errors.append(f"missing required field: type [json-pointer:{pointer}]")
        return
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or len(action_id) > 255:
            errors.append(f"must be less than 256 characters [json-pointer:{pointer}/action_id]")
        elif action_id in action_ids:
            errors.append(f"{action_id} is not unique [json-pointer:{pointer}/action_id]")
        else:
            action_ids.add(action_id)
    if kind == "button":
        _check_text(element.get("text"), f"{pointer}/text", 75, errors, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        url = element.get("url")
        if isinstance(url, str) and len(url) > 3000:
            errors.append(f"must be less than 3001 characters [json-pointer:{pointer}/url]")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.append(f"must be one of ['primary', 'danger'] [json-pointer:{pointer}/style]")
    if kind not in _ELEMENT_TYPES:
        errors.append(f"unsupported type: {kind} [json-pointer:{pointer}/type]")
        return
    if kind in _OPTION_LIMITS and "options" in element:
        _check_options(element["options"], f"{pointer}/options", _OPTION_LIMITS[kind], errors)
    if kind in ("checkboxes", "radio_buttons") and "options" not in element:
        errors.append(f"missing required field: options [json-pointer:{pointer}]")
    _check_initial_options(element, pointer, errors)
    if kind in _MULTI_SELECTS and "max_selected_items" in element:
        limit = element["max_selected_items"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            errors.append(f"must be at least 1 [json-pointer:{pointer}/max_selected_items]")
    if kind == "multi_users_select" and "initial_users" in element:
        users = element["initial_users"]
        if not isinstance(users, list) or not all(isinstance(user, str) for user in users):
            errors.append(f"must be an array of user IDs [json-pointer:{pointer}/initial_users]")
    if kind == "file_input":
        _check_file_input(element, pointer, errors)
    if kind == "datetimepicker" and "initial_date_time" in element:
        stamp = element["initial_date_time"]
        if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp < 10**10:
            errors.append(f"must be a UNIX timestamp in seconds [json-pointer:{pointer}/initial_date_time]")
    if kind == "rich_text_input" and "initial_value" in element:
        initial = element["initial_value"]
        if not isinstance(initial, dict) or initial.get("type") != "rich_text" or not isinstance(
            initial.get("elements"), list
        ):
            errors.append(f"must be a rich_text object [json-pointer:{pointer}/initial_value]")
    initial_text = element.get("initial_value")
    typed = kind in ("email_text_input", "url_text_input")
    if typed and initial_text is not None and not isinstance(initial_text, str):
        errors.append(f"must be a string [json-pointer:{pointer}/initial_value]")
    if kind in ("static_select", "multi_static_select") and "options" not in element and "option_groups" not in element:
        errors.append(f"must provide either options or option_groups [json-pointer:{pointer}]")
    placeholder = element.get("placeholder")
    if placeholder is not None:
        _check_text(placeholder, f"{pointer}/placeholder", 150, errors, plain_only=True)
    if kind == "image" and not (element.get("image_url") or element.get("slack_file")):
        errors.append(f"missing required field: image_url [json-pointer:{pointer}]")


def _check_initial_options(element: dict[str, Any], pointer: str, errors: list[str]) -> None:
    """`initial_option(s)` must each be one of the element's `options` (here: by value)."""
    options = element.get("options")
    listed = options if isinstance(options, list) else []
    offered = [option.get("value") for option in listed if isinstance(option, dict)]
    for key in ("initial_option", "initial_options"):
        if key not in element:
            continue
        chosen = element[key] if key == "initial_options" else [element[key]]
        if not isinstance(chosen, list):
            errors.append(f"must be an array [json-pointer:{pointer}/{key}]")
            continue
        for i, option in enumerate(chosen):
            if isinstance(options, list) and (not isinstance(option, dict) or option.get("value") not in offered):
                where = f"{pointer}/{key}" + (f"/{i}" if key == "initial_options" else "")
                errors.append(f"must match one of the options [json-pointer:{where}]")


def _check_file_input(element: dict[str, Any], pointer: str, errors: list[str]) -> None:
    max_files = element.get("max_files")
    if max_files is not None and (
        isinstance(max_files, bool) or not isinstance(max_files, int) or not 1 <= max_files <= _MAX_FILES
    ):
        errors.append(f"must be between 1 and {_MAX_FILES} [json-pointer:{pointer}/max_files]")
    filetypes = element.get("filetypes")
    if filetypes is not None and (
        not isinstance(filetypes, list) or not all(isinstance(kind, str) and kind for kind in filetypes)
    ):
        errors.append(f"must be an array of file extensions [json-pointer:{pointer}/filetypes]")


def _check_block(block: dict[str, Any], pointer: str, errors: list[str]) -> None:
    kind = block["type"]
    action_ids: set[str] = set()
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            errors.append(f"must provide either text or fields [json-pointer:{pointer}]")
        if text is not None:
            _check_text(text, f"{pointer}/text", 3000, errors)
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(f"must be an array of at most 10 items [json-pointer:{pointer}/fields]")
            else:
                for i, item in enumerate(fields):
                    _check_text(item, f"{pointer}/fields/{i}", 2000, errors)
        if "accessory" in block:
            _check_element(block["accessory"], f"{pointer}/accessory", errors, action_ids)
    elif kind == "header":
        _check_text(block.get("text"), f"{pointer}/text", 150, errors, plain_only=True)
    elif kind == "actions":
        elements = block.get("elements")
        for i, element in enumerate(elements if isinstance(elements, list) else []):
            if isinstance(element, dict) and element.get("type") in _INPUT_ONLY:
                where = f"{pointer}/elements/{i}"
                errors.append(f"{element['type']} is only allowed in input blocks [json-pointer:{where}]")
        if not isinstance(elements, list) or not elements:
            errors.append(f"must provide at least 1 element [json-pointer:{pointer}/elements]")
        else:
            if len(elements) > 25:
                errors.append(f"must be less than 26 items [json-pointer:{pointer}/elements]")
            for i, element in enumerate(elements):
                _check_element(element, f"{pointer}/elements/{i}", errors, action_ids)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"must provide at least 1 element [json-pointer:{pointer}/elements]")
        else:
            if len(elements) > 10:
                errors.append(f"must be less than 11 items [json-pointer:{pointer}/elements]")
            for i, element in enumerate(elements):
                p = f"{pointer}/elements/{i}"
                if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                    _check_text(element, p, 3000, errors)
                else:
                    _check_element(element, p, errors, action_ids)
    elif kind == "input":
        _check_text(block.get("label"), f"{pointer}/label", 2000, errors, plain_only=True)
        if "hint" in block:
            _check_text(block["hint"], f"{pointer}/hint", 2000, errors, plain_only=True)
        if "element" not in block:
            errors.append(f"missing required field: element [json-pointer:{pointer}]")
        else:
            _check_element(block["element"], f"{pointer}/element", errors, action_ids)
    elif kind == "image":
        if not (block.get("image_url") or block.get("slack_file")):
            errors.append(f"missing required field: image_url [json-pointer:{pointer}]")
        alt = block.get("alt_text")
        if not isinstance(alt, str) or len(alt) > 2000:
            errors.append(f"must be a string of at most 2000 characters [json-pointer:{pointer}/alt_text]")
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or len(text) > 12_000:
            errors.append(f"must be a string of at most 12000 characters [json-pointer:{pointer}/text]")


def validate_blocks(blocks: Any, *, limit: int = MESSAGE_BLOCK_LIMIT, pointer: str = "/blocks") -> list[str]:
    """Check Block Kit structure and limits; return Slack-style problem descriptions (empty when valid)."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"must be less than {limit + 1} items [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        p = f"{pointer}/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{p}]")
            continue
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{p}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                errors.append(f"must be 1 to 255 characters [json-pointer:{p}/block_id]")
            elif block_id in block_ids:
                errors.append(f"{block_id} is a duplicate block_id [json-pointer:{p}/block_id]")
            else:
                block_ids.add(block_id)
        _check_block(block, p, errors)
    return errors


def validate_view(view: Any, *, allowed_types: Iterable[str] = ("modal", "home")) -> list[str]:
    """Check a view payload (modal or App Home) the way ``views.*`` do; return problems (empty when valid)."""
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    allowed = tuple(allowed_types)
    kind = view.get("type")
    if kind not in allowed:
        return [f"must be one of {list(allowed)} [json-pointer:/view/type]"]
    errors: list[str] = []
    if len(json.dumps(view)) > VIEW_SIZE_LIMIT:
        errors.append("view is too large [json-pointer:/view]")
    if kind == "modal":
        if "title" not in view:
            errors.append("missing required field: title [json-pointer:/view]")
        else:
            _check_text(view["title"], "/view/title", 24, errors, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                _check_text(view[key], f"/view/{key}", 24, errors, plain_only=True)
        blocks = view.get("blocks", [])
        has_input = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            errors.append("must provide submit if blocks contain an input block [json-pointer:/view/submit]")
    if "blocks" not in view:
        errors.append("missing required field: blocks [json-pointer:/view]")
    else:
        errors.extend(validate_blocks(view["blocks"], limit=VIEW_BLOCK_LIMIT, pointer="/view/blocks"))
    for key, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return errors


def find_action(blocks: Iterable[Any], action_id: str) -> tuple[str | None, dict[str, Any]] | None:
    """Find the interactive element with ``action_id``: return ``(block_id, element)`` or None."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = []
        if isinstance(block.get("elements"), list):
            candidates.extend(block["elements"])
        for key in ("accessory", "element"):
            if key in block:
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                block_id = block.get("block_id")
                return (block_id if isinstance(block_id, str) else None), element
    return None
