"""Requests already seen: Slack's event retries and other keys whose work must be done once (a weekly report, a
scheduled start). `WorkflowService.sightings`."""

from __future__ import annotations

from bot.workspace import Workspace

__all__ = ["Sightings"]


class Sightings:
    """Whether a key was seen, claiming it the first time, and giving a claim back when its work failed."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    async def seen(self, request_key: str) -> bool:
        """Whether a Slack request (an event_id) was already handled and answered."""
        async with self._workspace.store.transaction(read_only=True) as work:
            return await work.seen(request_key)

    async def first_sighting(self, request_key: str) -> bool:
        """True the first time a Slack request (an event_id) is seen; false for Slack's retries."""
        async with self._workspace.store.transaction() as work:
            return await work.first_sighting(request_key, self._workspace.now())

    async def forget_sighting(self, request_key: str) -> None:
        """The work a first sighting claimed failed: let the next attempt claim it again."""
        async with self._workspace.store.transaction() as work:
            await work.forget_sighting(request_key)
