"""How Slack words the text the engine composes as facts (bot/engine/wording.py): a person as a mention, text
people typed made inert in mrkdwn."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.engine.wording import WordedText

__all__ = ["SLACK_WORDING", "SlackWording", "escape_text", "shown"]

_DISGUISES = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0), 0xAD, 0x061C, 0x180E]
_DISGUISES += [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF, *range(0xFFF9, 0xFFFC)]
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_INERT = str.maketrans({**dict.fromkeys(_DISGUISES), "\r": "\n", "\u2028": "\n", "\u2029": "\n"})


def escape_text(text: str) -> str:
    """Text people typed, made safe inside message markup: `&`, `<` and `>` become entities, so a typed
    `<!channel>` or `<https://evil|click>` shows as written instead of pinging a channel or hiding a link;
    direction overrides, zero-width and control characters are removed, so the text reads as it is."""
    plain = text.replace("\r\n", "\n").translate(_INERT)
    return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class SlackWording:
    """People as `<@U…>` (Slack shows each reader the person's name), typed text escaped."""

    def person(self, user_id: str) -> str:
        """A Slack user id as a mention; anything else (the pseudonym `forget` left) as plain text."""
        return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else escape_text(user_id)

    def typed(self, text: str) -> str:
        return escape_text(text)


SLACK_WORDING = SlackWording()


def shown(text: WordedText) -> str:
    """Worded text as Slack shows it: people as mentions, typed text escaped."""
    return text.shown_in(SLACK_WORDING)
