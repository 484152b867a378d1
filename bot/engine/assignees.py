"""Who a step goes to: roles written in workflow files, and their resolution to Slack user IDs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from .expressions import FormValue
from .suggestions import did_you_mean
from .worktime import WorkingCalendar

__all__ = ["AssigneeRef", "Directory", "resolve_first", "resolve"]

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_PEOPLE = re.compile(r"^[UW][A-Z0-9]{2,}(,[UW][A-Z0-9]{2,})+$")  # several people, one task: U012,U034
_NAME = r"[a-z0-9][a-z0-9_-]*"
_FORM = re.compile(rf"^form\.({_NAME})(\.manager)?$")
_GROUP = re.compile(rf"^group:({_NAME})$")
_USERGROUP = re.compile(r"^@([a-z0-9][a-z0-9._-]*)$")
_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9_-]*|C[A-Z0-9]{2,})$")


class Directory(Protocol):
    """What the engine may ask about people; implementations are plain data, no I/O."""

    def manager_of(self, user_id: str) -> str | None: ...

    def members_of(self, group: str) -> tuple[str, ...] | None: ...

    def usergroup_members(self, handle: str) -> tuple[str, ...] | None: ...

    def is_admin(self, user_id: str) -> bool: ...

    def zone_of(self, user_id: str) -> ZoneInfo: ...

    def delegate_of(self, user_id: str) -> str | None: ...

    @property
    def calendar(self) -> WorkingCalendar: ...

    @property
    def admins(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class AssigneeRef:
    """One way of naming people: `requester`, `requester.manager`, `form.x`, `form.x.manager`,
    `group:finance`, `@slack-handle`, `U012ABC`, several people `U012,U034` or, for notifications,
    `#channel`/`C012ABC`."""

    kind: str  # requester | requester_manager | form | form_manager | group | usergroup | user | people | channel
    name: str = ""

    @classmethod
    def parse(cls, text: str, *, allow_channel: bool = False, allow_assignee: bool = False) -> AssigneeRef:
        """Parse a reference; raise ValueError with the accepted forms."""
        text = text.strip()
        if text == "requester":
            return cls("requester")
        if allow_assignee and text == "assignee.manager":
            return cls("assignee_manager")
        if text == "requester.manager":
            return cls("requester_manager")
        if match := _FORM.match(text):
            return cls("form_manager" if match.group(2) else "form", match.group(1))
        if match := _GROUP.match(text):
            return cls("group", match.group(1))
        if match := _USERGROUP.match(text):
            return cls("usergroup", match.group(1))
        if _USER_ID.match(text):
            return cls("user", text)
        if _PEOPLE.match(text):
            return cls("people", text)
        if allow_channel and _CHANNEL.match(text):
            return cls("channel", text)
        accepted = (
            "requester, requester.manager, form.<field>, form.<field>.manager, group:<name>, @<handle>, U…, U…,U…"
        )
        if allow_channel:
            accepted += ", #channel, C…"
        if allow_assignee:
            accepted += ", assignee.manager"
        named = ["requester", "requester.manager"] + (["assignee.manager"] if allow_assignee else [])
        raise ValueError(f"{text!r} does not name anyone{did_you_mean(text, named)}; use one of: {accepted}")

    def __str__(self) -> str:
        return {
            "requester": "requester",
            "requester_manager": "requester.manager",
            "assignee_manager": "assignee.manager",
            "form": f"form.{self.name}",
            "form_manager": f"form.{self.name}.manager",
            "group": f"group:{self.name}",
            "usergroup": f"@{self.name}",
        }.get(self.kind, self.name)


def resolve(
    ref: AssigneeRef,
    *,
    requester: str,
    form: Mapping[str, FormValue],
    directory: Directory,
    assignees: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """Return the user IDs (or, for a channel ref, the channel) this reference names now; empty if none."""
    if ref.kind == "requester":
        return (requester,)
    if ref.kind == "assignee_manager":
        return tuple(dict.fromkeys(m for a in assignees if (m := directory.manager_of(a))))
    if ref.kind == "requester_manager":
        return _one(directory.manager_of(requester))
    if ref.kind in ("form", "form_manager"):
        value = form.get(ref.name)
        if not isinstance(value, str) or not value:
            return ()
        return (value,) if ref.kind == "form" else _one(directory.manager_of(value))
    if ref.kind == "group":
        return directory.members_of(ref.name) or ()
    if ref.kind == "usergroup":
        return directory.usergroup_members(ref.name) or ()
    if ref.kind == "people":
        return tuple(dict.fromkeys(ref.name.split(",")))
    return (ref.name,)


def resolve_first(
    refs: Sequence[AssigneeRef],
    *,
    requester: str,
    form: Mapping[str, FormValue],
    directory: Directory,
    exclude: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """Resolve a fallback chain: the first reference that names someone not excluded wins."""
    for ref in refs:
        people = tuple(
            dict.fromkeys(
                p for p in resolve(ref, requester=requester, form=form, directory=directory) if p not in exclude
            )
        )
        if people:
            return people
    return ()


def _one(user_id: str | None) -> tuple[str, ...]:
    return (user_id,) if user_id else ()
