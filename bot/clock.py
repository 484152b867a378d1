"""The one source of time for Baton's adapters; the engine receives time as an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "SystemClock", "OffsetClock"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """Wall-clock time shifted forward by an adjustable offset (for the sandbox's time travel)."""

    def __init__(self, *, start: datetime | None = None) -> None:
        self.offset = start - datetime.now(UTC) if start is not None else timedelta()

    def advance(self, by: timedelta) -> None:
        self.offset += by

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
