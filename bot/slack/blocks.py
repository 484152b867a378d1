"""Block Kit building blocks, clipped to Slack's limits so no input can make a call fail."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Block",
    "actions",
    "button",
    "clip",
    "context",
    "divider",
    "fit_blocks",
    "header",
    "mrkdwn",
    "plain",
    "section",
]

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
ACTION_ID_LIMIT = 255
CONTEXT_ELEMENTS_LIMIT = 10
MESSAGE_BLOCKS_LIMIT = 50
VIEW_BLOCKS_LIMIT = 100


def clip(text: str, limit: int) -> str:
    """Shorten text to at most `limit` characters, ending with a visible ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int = SECTION_TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text or " ", limit), "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text or " ", limit)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_LIMIT)}


def section(text: str, *, fields: list[str] | None = None, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(field, 2000) for field in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text, 2000) for text in texts[:CONTEXT_ELEMENTS_LIMIT]]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, *, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_LIMIT),
        "action_id": clip(action_id, ACTION_ID_LIMIT),
        "value": clip(value, BUTTON_VALUE_LIMIT),
    }
    if style:
        element["style"] = style
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:25])}
    if block_id:
        block["block_id"] = clip(block_id, 255)
    return block


def fit_blocks(blocks: list[Block], limit: int = MESSAGE_BLOCKS_LIMIT) -> list[Block]:
    """Keep a message within Slack's block limit, saying how much was left out."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return [*kept, context(f"…and {len(blocks) - len(kept)} more not shown.")]
