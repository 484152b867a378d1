"""The satisfaction part of the requester's outcome DM: the 1 to 5 buttons, the rating given, and the comment modal."""

from __future__ import annotations

import re
from typing import Any

from bot.engine import Instance, WorkflowDefinition
from bot.engine.satisfaction import COMMENT_LIMIT, RATEABLE, SCORES
from bot.slack.wording import escape_text

from .blocks import Block, actions, button, clip, context, plain, section

__all__ = [
    "ACTION_RATE",
    "ACTION_RATING_COMMENT",
    "CALLBACK_RATING_COMMENT",
    "outcome_message_key",
    "rating_blocks",
    "rating_comment_view",
    "score_of",
]

ACTION_RATE = re.compile(r"^request_rate_[1-5]$")
ACTION_RATING_COMMENT = "request_rating_comment"
CALLBACK_RATING_COMMENT = "rating_comment"
_WORDS = {1: "very unhappy", 2: "unhappy", 3: "okay", 4: "happy", 5: "very happy"}


def outcome_message_key(instance_id: int) -> str:
    """The requester's outcome DM, updated in place when they rate."""
    return f"outcome:{instance_id}"


def score_of(action_id: str) -> int | None:
    """The score a rating button stands for (`request_rate_4` → 4)."""
    return int(action_id[-1]) if ACTION_RATE.match(action_id) else None


def _stars(score: int) -> str:
    return "★" * score + "☆" * (5 - score)


def rating_blocks(definition: WorkflowDefinition, instance: Instance) -> list[Block]:
    """Ask how it went (buttons 1 to 5), or show the rating given with buttons to change it and to comment."""
    if not definition.satisfaction or instance.status not in RATEABLE:
        return []
    rating = instance.rating
    chosen = rating.score if rating else None
    scores = [
        button(
            f"{score} {'★' if score == chosen else ''}".strip(),
            action_id=f"request_rate_{score}",
            value=str(instance.id),
            style="primary" if score == chosen else None,
        )
        for score in SCORES
    ]
    if rating is None:
        return [
            section("*How did this go for you?* Rate it from 1 (very unhappy) to 5 (very happy)."),
            actions(*scores, block_id=f"rating:{instance.id}"),
        ]
    words = f"You rated this *{rating.score} of 5* {_stars(rating.score)} ({_WORDS[rating.score]}). Thank you!"
    if rating.comment:
        words += f"\n> {clip(escape_text(rating.comment), 2500)}"
    comment = button(
        "Edit your comment…" if rating.comment else "Add a comment…",
        action_id=ACTION_RATING_COMMENT,
        value=str(instance.id),
    )
    return [
        section(words),
        actions(*scores, comment, block_id=f"rating:{instance.id}"),
        context("Clicking another number changes your rating."),
    ]


def rating_comment_view(instance: Instance) -> dict[str, Any]:
    """A small modal for the comment of a rating (optional: sending it empty removes the comment)."""
    rating = instance.rating
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": COMMENT_LIMIT,
    }
    if rating is not None and rating.comment:
        element["initial_value"] = rating.comment
    score = f" (you gave it {rating.score} of 5)" if rating else ""
    return {
        "type": "modal",
        "callback_id": CALLBACK_RATING_COMMENT,
        "private_metadata": str(instance.id),
        "title": plain("Your rating", 24),
        "submit": plain("Save", 24),
        "close": plain("Back", 24),
        "blocks": [
            section(f"Anything the owners of *{clip(escape_text(instance.title), 100)}* should know{score}?"),
            {
                "type": "input",
                "block_id": "comment",
                "label": plain("Comment", 2000),
                "optional": True,
                "element": element,
            },
        ],
    }
