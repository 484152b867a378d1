"""Reading Web API arguments as Slack does, and answering a method's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

__all__ = ["Handler", "SlackApiFailure", "flag", "is_missing", "optional_text"]


class SlackApiFailure(Exception):
    """Raised inside a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *messages: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages
        self.extra = extra

    def as_response(self) -> dict[str, Any]:
        response: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            response["response_metadata"] = {"messages": list(self.messages)}
        return response


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return False


def optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text or None


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


Handler: TypeAlias = Callable[[dict[str, Any]], dict[str, Any]]
