"""Slack-only work that follows an answer to Slack (views.open, ephemeral notes, reports): never state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["FollowUps"]

log = logging.getLogger(__name__)


class FollowUps:
    """Runs follow-up work after a listener has answered Slack, and lets a stopping Baton wait for it.

    Listeners commit what changed, answer, and hand the talking-back to Slack to `later(...)`, so the answer
    is never held up by a Slack call and a crash after the answer loses only a courtesy message, never state.
    """

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def later(self, work: Coroutine[Any, Any, None], *, what: str) -> None:
        """Run `work` once the current answer has gone out; a failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(self._guarded(work, what), name=f"follow-up: {what}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception:
            log.exception("follow-up failed: %s", what)

    @property
    def pending(self) -> int:
        return len(self._running)

    async def drain(self, *, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the follow-ups under way; cancel the rest. True if all finished."""
        if not self._running:
            return True
        _done, unfinished = await asyncio.wait(set(self._running), timeout=timeout)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.warning("stopping: %s follow-up Slack calls cut short", len(unfinished))
        return not unfinished
