"""What the emulator received: recorded Web API calls and ``response_url`` posts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.emulator.faults import Fault

__all__ = ["RecordedCall", "ResponseUrlPost"]


@dataclass(frozen=True)
class RecordedCall:
    """One request the emulator received: Web API calls, plus ``response_url`` posts and ``upload`` bodies.

    ``faulted`` is true when an injected fault (or an enforced rate limit) replaced the answer; such calls
    never change state. ``fault`` names the fault applied, if any (a ``Delay`` is not a failure).
    """

    method: str
    args: dict[str, Any]
    response: dict[str, Any]
    at: float
    faulted: bool = False
    status: int = 200
    fault: Fault | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok")) and not self.faulted

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None

    def summary(self) -> str:
        outcome = "ok" if self.ok else f"error={self.error or self.status}"
        if self.fault is not None:
            outcome += f" fault={self.fault!r}"
        shown = {k: _shorten(v) for k, v in self.args.items()}
        return f"{self.method}({shown}) -> {outcome}"


@dataclass(frozen=True)
class ResponseUrlPost:
    """Something the app POSTed to a ``response_url`` the driver handed out, and what it did."""

    token: str
    payload: dict[str, Any]
    at: float
    channel_id: str | None
    user_id: str
    message_ts: str | None
    outcome: str


def _shorten(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
