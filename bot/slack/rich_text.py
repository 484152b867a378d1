"""Slack's rich text (a `rich_text_input`'s value) as the plain text Baton stores, and plain text as rich text."""

from __future__ import annotations

from typing import Any

__all__ = ["rich_text_of", "rich_text_plain"]

_NESTING_LIMIT = 8  # rich text nests lists in lists; deeper than this is not a person's writing


def rich_text_plain(rich_text: dict[str, Any]) -> str:
    """The text of a rich_text block: lists as `•` lines, quotes as `>` lines, links as `text (url)`, people as
    `@U…` (stored as text and shown escaped, so it never pings anyone)."""
    return "\n".join(_blocks(rich_text.get("elements"), 0)).strip()


def _blocks(elements: Any, depth: int) -> list[str]:
    lines: list[str] = []
    if not isinstance(elements, list) or depth > _NESTING_LIMIT:
        return lines
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind == "rich_text_list":
            indent = "  " * _int(element.get("indent"))
            for index, item in enumerate(element.get("elements") or [], start=1):
                bullet = f"{index}." if element.get("style") == "ordered" else "•"
                lines.extend(f"{indent}{bullet} {line}" for line in _blocks([item], depth + 1))
        elif kind == "rich_text_quote":
            lines.extend(f"> {line}" for line in _inline(element.get("elements")).split("\n"))
        elif kind in ("rich_text_section", "rich_text_preformatted"):
            lines.append(_inline(element.get("elements")))
    return lines


def _inline(elements: Any) -> str:
    parts: list[str] = []
    for element in elements if isinstance(elements, list) else ():
        if not isinstance(element, dict):
            continue
        kind, text = element.get("type"), element.get("text")
        if kind == "text" and isinstance(text, str):
            parts.append(text)
        elif kind == "link" and isinstance(element.get("url"), str):
            url = str(element["url"])
            parts.append(f"{text} ({url})" if isinstance(text, str) and text and text != url else url)
        elif kind == "user" and isinstance(element.get("user_id"), str):
            parts.append(f"@{element['user_id']}")
        elif kind == "channel" and isinstance(element.get("channel_id"), str):
            parts.append(f"#{element['channel_id']}")
        elif kind == "usergroup" and isinstance(element.get("usergroup_id"), str):
            parts.append(f"@{element['usergroup_id']}")
        elif kind == "emoji" and isinstance(element.get("name"), str):
            parts.append(f":{element['name']}:")
        elif kind == "broadcast" and isinstance(element.get("range"), str):
            parts.append(f"@{element['range']}")
    return "".join(parts).rstrip("\n")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and 0 <= value <= _NESTING_LIMIT else 0


def rich_text_of(text: str) -> dict[str, Any]:
    """Stored text as a rich_text value (a form filled in again shows it as plain paragraphs)."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return {"type": "rich_text", "elements": [section]}
