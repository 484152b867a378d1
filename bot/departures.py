"""A person deactivated in Slack: their open tasks go to their manager (org.yaml) or else to an admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.pipeline import Refused
from bot.service import WorkflowService

__all__ = ["Departures", "Moved"]

log = logging.getLogger(__name__)

STAND_IN_FOR = timedelta(days=365 * 50)  # a departure is for good: ended only by `/workflow delegate off`
MAX_TASKS = 500  # one person's open tasks moved per event (Slack sends user_change again on the next edit)


@dataclass(frozen=True)
class Moved:
    """One open task handed on: to whom, or None when nobody could take it (the admins' alert says so)."""

    task_id: str
    instance_id: int
    to: str | None


class Departures:
    """Each open task is handed over in the departed person's own seat (so an `all` or quorum rule keeps its
    head count and the decisions made stand), each in its own committed transition with a history line."""

    def __init__(self, service: WorkflowService) -> None:
        self._service = service

    async def deactivated(self, user_id: str) -> list[Moved]:
        """Move every open task of `user_id`; committed before this returns."""
        tasks = await self._service.open_tasks_of(user_id, limit=MAX_TASKS)
        directory = self._service.directory
        manager = directory.manager_of(user_id)
        successors = [person for person in (manager, *directory.admins) if person and person != user_id]
        await self._stand_in(user_id, successors)
        note = f"<@{user_id}>'s Slack account was deactivated; Baton handed this task on"
        moved: list[Moved] = []
        for task in tasks:
            to = None
            for successor in successors:  # the manager first; an admin when the manager may not take it
                if not isinstance(await self._service.reassign(task.id, user_id, successor, note), Refused):
                    to = successor
                    break
            if to is None:
                log.warning("open task %s of deactivated %s: no manager or admin may take it", task.id, user_id)
            moved.append(Moved(task.id, task.instance_id, to))
        if moved:
            log.info("deactivated %s: %s open tasks handed on", user_id, sum(1 for m in moved if m.to))
        return moved

    async def _stand_in(self, user_id: str, successors: list[str]) -> None:
        """New tasks for the departed person go to the first successor free to take them (a delegation, so the
        history says "passed to a stand-in" and every process sees it)."""
        delegations = self._service.delegations
        if await delegations.delegation_of(user_id) in successors:
            return  # Slack's next user_change for the same person
        until = self._service.now() + STAND_IN_FOR
        for successor in successors:
            if await delegations.delegate(user_id, successor, until) is None:
                log.info("deactivated %s: new tasks go to %s", user_id, successor)
                return
        log.warning("deactivated %s: nobody can stand in for new tasks (no manager or admin free)", user_id)
