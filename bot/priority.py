"""Slack's requests come first: background sending gives way to requests being answered, for a bounded time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

__all__ = ["Answering"]


class Answering:
    """Counts the Slack requests being answered now, so that the outbox can give way to them.

    A person who clicks waits for the answer (Slack allows 3 seconds); a DM that follows can wait a little.
    Under a burst the sender defers each message by at most `give_way`'s bound, so it never starves."""

    def __init__(self) -> None:
        self._count = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        self._count += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._quiet.set()

    async def give_way(self, *, at_most: float) -> None:
        """Wait until no request is being answered, or `at_most` seconds."""
        if not self._quiet.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), timeout=at_most)
