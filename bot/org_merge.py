"""Merge the people of a Slack workspace into an org.yaml document, keeping what only the file knows.

What Slack knows wins for the fields it has (name, email, time zone, title) and, when a source of managers
is given, for managers; everything else in the file stays as it was written: groups, the calendar, settings,
comments, hand-made entries for people the workspace does not list, and any field Slack leaves empty. A person
deactivated in Slack leaves `people`, the groups and the manager links that named them, each change said."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bot.engine.worktime import known_zone

__all__ = ["OrgChanges", "SlackMember", "merge_members"]

_NAME_LENGTH = 80  # org.yaml's limit on a person's name
_COPIED = ("name", "email", "tz", "title")  # the fields Slack's profile fills, in the order they are written


@dataclass(frozen=True)
class SlackMember:
    """A workspace member as users.list describes them, reduced to what org.yaml holds."""

    id: str
    name: str
    email: str | None = None
    tz: str | None = None
    title: str | None = None
    deactivated: bool = False

    def fields(self) -> dict[str, str]:
        """The org.yaml fields Slack has a value for (an unknown time zone is left out, as org.yaml refuses it)."""
        values = {"name": self.name[:_NAME_LENGTH], "email": self.email, "tz": self.tz, "title": self.title}
        if self.tz is not None and not known_zone(self.tz):
            values["tz"] = None
        return {key: value for key, value in values.items() if value}


@dataclass
class OrgChanges:
    """What a merge did, line by line, for the person who runs the import."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # entries the workspace does not list, left as written
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def report(self) -> list[str]:
        """The summary line, then one line per change and warning."""
        lines = [
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.kept)} kept as written (not in the workspace)"
        ]
        lines += [f"  + {line}" for line in self.added]
        lines += [f"  ~ {line}" for line in self.updated]
        lines += [f"  - {line}" for line in self.removed]
        lines += [f"  ! {line}" for line in self.warnings]
        return lines


def merge_members(
    document: MutableMapping[str, Any],
    members: Iterable[SlackMember],
    managers: Mapping[str, str] | None,
    *,
    new_mapping: type[MutableMapping[str, Any]] = dict,
) -> OrgChanges:
    """Bring `document` (org.yaml's top-level mapping, changed in place) up to date with `members`.

    `managers` maps a person's user ID to their manager's; None when no source of managers was given (the
    file's managers stay). `new_mapping` makes the mappings added (ruamel's, so the file keeps its layout)."""
    changes = OrgChanges()
    people = _mapping_at(document, "people", new_mapping)
    listed = {member.id: member for member in members}
    for member in listed.values():
        if member.deactivated:
            continue
        entry = people.get(member.id)
        if entry is None:
            people[member.id] = _new_entry(member, managers, new_mapping)
            changes.added.append(_who(member.id, member.name))
        else:
            _update_entry(member, entry, managers, changes)
    departed = [user_id for user_id in people if user_id in listed and listed[user_id].deactivated]
    for user_id in departed:
        _remove(document, people, user_id, changes)
    changes.kept = [_who(user_id, _name(people[user_id])) for user_id in people if user_id not in listed]
    _check_managers(people, changes)
    return changes


def _mapping_at(document: MutableMapping[str, Any], key: str, new_mapping: type[MutableMapping[str, Any]]) -> Any:
    value = document.get(key)
    if not isinstance(value, MutableMapping):
        value = new_mapping()
        document[key] = value
    return value


def _new_entry(
    member: SlackMember, managers: Mapping[str, str] | None, new_mapping: type[MutableMapping[str, Any]]
) -> MutableMapping[str, Any]:
    entry = new_mapping()
    for key, value in member.fields().items():
        entry[key] = value
    manager = (managers or {}).get(member.id)
    if manager is not None and manager != member.id:
        entry["manager"] = manager
    return entry


def _update_entry(
    member: SlackMember, entry: Any, managers: Mapping[str, str] | None, changes: OrgChanges
) -> None:
    if not isinstance(entry, MutableMapping):
        changes.warnings.append(f"{member.id}: the entry is not a mapping; left as written")
        return
    said: list[str] = []
    for key, value in member.fields().items():
        if entry.get(key) != value:
            said.append(f"{key} {_shown(entry.get(key))} → {_shown(value)}")
            entry[key] = value
    manager = managers.get(member.id) if managers is not None else None
    if manager is not None and manager != member.id and entry.get("manager") != manager:
        said.append(f"manager {entry.get('manager') or '(none)'} → {manager}")
        entry["manager"] = manager
    if said:
        changes.updated.append(f"{_who(member.id, member.name)}: {'; '.join(said)}")


def _remove(document: MutableMapping[str, Any], people: Any, user_id: str, changes: OrgChanges) -> None:
    name = _name(people[user_id])
    del people[user_id]
    left: list[str] = []
    groups = document.get("groups")
    if isinstance(groups, MutableMapping):
        for group, members in groups.items():
            if isinstance(members, list) and user_id in members:
                members.remove(user_id)
                left.append(group)
    out_of = f"; taken out of {', '.join(f'group {group}' for group in left)}" if left else ""
    changes.removed.append(f"{_who(user_id, name)}: deactivated in Slack{out_of}")
    for other_id, entry in people.items():
        if isinstance(entry, MutableMapping) and entry.get("manager") == user_id:
            del entry["manager"]
            changes.warnings.append(f"{_who(other_id, _name(entry))} had {name} as manager; set a new one")


def _check_managers(people: Any, changes: OrgChanges) -> None:
    for user_id, entry in people.items():
        manager = entry.get("manager") if isinstance(entry, MutableMapping) else None
        if manager is not None and manager not in people:
            changes.warnings.append(f"{_who(user_id, _name(entry))}: the manager {manager} is not in org.yaml")


def _name(entry: Any) -> str:
    return str(entry.get("name", "")) if isinstance(entry, Mapping) else ""


def _who(user_id: str, name: str) -> str:
    return f"{user_id} ({name})" if name else user_id


def _shown(value: object) -> str:
    return "(none)" if value is None else repr(value) if isinstance(value, str) else str(value)
