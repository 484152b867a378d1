"""Request states an older Baton stored, read into today's form: task titles it kept as Slack mrkdwn become
worded text (people by id, typed text as typed), so they are worded again, the same, when shown."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from bot.engine import Instance, Named, Part, Typed, WordedText, Written, worded

__all__ = ["instance_from_state", "title_from_markup"]

# What Slack's wording wrote into a stored title: a person as `<@U…>`; typed text with `&`, `<` and `>` as
# entities. Any other `<…>` was written by the workflow's owner (a link) and stays as written.
_TOKEN = re.compile(r"<@([UW][A-Z0-9]+)>|<[^<>]*>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}


def instance_from_state(state: str | bytes) -> Instance:
    """A stored state as an instance, in the form this version stores or the one before titles were facts."""
    try:
        return Instance.model_validate_json(state)
    except ValidationError:
        older = json.loads(state)
        if not _upgraded(older):
            raise
        return Instance.model_validate(older)


def title_from_markup(markup: str) -> WordedText:
    """A title as Slack mrkdwn (how it was stored) read into parts: mentions as people, the rest as typed."""
    pieces: list[Part] = []
    read_up_to = 0
    for token in _TOKEN.finditer(markup):
        pieces.append(_typed(markup[read_up_to : token.start()]))
        user = token.group(1)
        pieces.append(Named(user=user) if user else Written(written=token.group(0)))
        read_up_to = token.end()
    pieces.append(_typed(markup[read_up_to:]))
    return worded(*pieces)


def _typed(markup: str) -> Typed:
    return Typed(typed=_ENTITY.sub(lambda entity: _UNESCAPED[entity.group(1)], markup))


def _upgraded(state: Any) -> bool:
    """Replace, in place, each task title stored as a string by its parts; whether any was."""
    tasks = state.get("tasks") if isinstance(state, dict) else None
    upgraded = False
    for task in tasks if isinstance(tasks, list) else ():
        if isinstance(task, dict) and isinstance(task.get("title"), str):
            task["title"] = title_from_markup(task["title"]).model_dump()
            upgraded = True
    return upgraded
