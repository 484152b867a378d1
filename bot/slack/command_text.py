"""Parse the text after `/workflow` into a typed request, whatever shape the text has."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["VERBS", "ParsedCommand", "parse_command_text", "parse_instance_id", "quoted"]

# Every `/workflow` verb: the one slash-command listener (`bot/slack/slash_command.py`) routes each of them.
VERBS = frozenset({"help", "list", "start", "status", "tasks", "cancel", "delegate", "report", "export", "map"})
_ALIASES = {"ls": "list", "new": "start", "todo": "tasks", "mine": "status", "?": "help"}
_MAX_TEXT = 4000


@dataclass(frozen=True)
class ParsedCommand:
    """`verb` is one of `VERBS`; `problem` explains unusable input."""

    verb: str
    argument: str = ""
    rest: str = ""
    problem: str | None = None


def parse_command_text(text: str | None) -> ParsedCommand:
    """Split `start expense-approval`, `status 12`, `cancel #12 wrong amount` and the like."""
    text = (text or "").strip()[:_MAX_TEXT]
    if not text:
        return ParsedCommand("help")
    head, *tail_or_none = text.split(maxsplit=1)  # any whitespace ends the verb, as Slack users type it
    tail = tail_or_none[0] if tail_or_none else ""
    verb = _ALIASES.get(head.lower(), head.lower())
    if verb not in VERBS:
        shown = head if len(head) <= 40 else head[:39] + "…"
        return ParsedCommand("help", problem=f"I don't know `{_safe(shown)}`.")
    argument, _, rest = tail.strip().partition(" ")
    return ParsedCommand(verb, argument.strip(), rest.strip())


def parse_instance_id(text: str) -> int | None:
    """Read a request number written as `12` or `#12`; None if it is not one."""
    match = re.fullmatch(r"#?(\d{1,12})", text.strip())
    return int(match.group(1)) if match else None


def _safe(text: str) -> str:
    """Keep user text from breaking out of inline code or pinging people."""
    return text.replace("`", "'").replace("<", "‹").replace(">", "›")


def quoted(text: str) -> str:
    """A name someone typed, fit to stand inside inline code in an answer (no backtick, at most 60 characters)."""
    text = text.replace("`", "'")
    return text if len(text) <= 60 else text[:59] + "…"
