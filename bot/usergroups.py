"""Slack user groups (`@handle` in workflow files): their members, read with `usergroups.list`, refreshed often."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["SlackUsergroups"]

log = logging.getLogger(__name__)


class SlackUsergroups(Mapping[str, tuple[str, ...]]):
    """Members by user group handle, as of the last refresh (a read-only mapping the engine can consult)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._members: dict[str, tuple[str, ...]] = {}
        self._handles: dict[str, str] = {}  # user group ID (S…) -> handle, for Workflow Builder's usergroup_id

    def __getitem__(self, handle: str) -> tuple[str, ...]:
        return self._members[handle]

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def handle_of(self, usergroup_id: str) -> str | None:
        """The handle of an enabled user group, by its ID, as of the last refresh."""
        return self._handles.get(usergroup_id)

    async def refresh(self) -> None:
        """Read every enabled group and its members in one call; on failure keep what we had."""
        try:
            answer = await self._client.usergroups_list(include_users=True)
        except SlackApiError as error:
            log.warning("could not read Slack user groups: %s", error.response.get("error"))
            return
        except Exception as error:  # network trouble: the next refresh tries again
            log.warning("could not read Slack user groups: %r", error)
            return
        groups = [
            group
            for group in answer.get("usergroups") or []
            if isinstance(group, dict) and group.get("handle") and not group.get("date_delete")
        ]
        self._members = {
            str(group["handle"]): tuple(str(user) for user in group.get("users") or ()) for group in groups
        }
        self._handles = {str(group["id"]): str(group["handle"]) for group in groups if group.get("id")}
