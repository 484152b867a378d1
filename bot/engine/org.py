"""The organisation from `workflows/org.yaml`: people, their managers, and named groups."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import time
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from .worktime import ClockTime, WorkingCalendar, known_zone, zone

__all__ = ["OrgChart", "OrgDirectory", "OrgSettings", "Person"]

_USER_ID = r"^[UW][A-Z0-9]{2,}$"


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class Person:
    """One person: a slotted record validated by pydantic (a model per person cost five times the memory, and
    an organisation has tens of thousands of them)."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    manager: Annotated[str | None, Field(pattern=_USER_ID)] = None
    email: str | None = None
    tz: str | None = None
    title: str | None = None

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None and not known_zone(name):
            raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC")
        return name


class OrgSettings(BaseModel):
    """Workspace-wide switches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    daily_digest: bool = False
    digest_time: ClockTime = time(9, 0)  # in each person's own time zone

    @field_validator("digest_time")
    @classmethod
    def _local_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError('digest_time is a local time of day without a zone; write it as quoted text like "09:00"')
        return value


class OrgChart(BaseModel):
    """People by Slack user ID, with their manager, groups of people by name, the working calendar."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calendar: WorkingCalendar = WorkingCalendar()
    settings: OrgSettings = OrgSettings()

    people: dict[Annotated[str, Field(pattern=_USER_ID)], Person] = Field(default_factory=dict)
    groups: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")], tuple[str, ...]] = Field(default_factory=dict)
    cost_per_hour: dict[str, Annotated[float, Field(ge=0, le=1_000_000)]] = Field(default_factory=dict)  # by group

    @field_validator("groups")
    @classmethod
    def _members_are_user_ids(cls, groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, members in groups.items():
            for member in members:
                if not re.fullmatch(_USER_ID, member):
                    raise ValueError(f"group {name}: {member!r} is not a Slack user ID (U…)")
        return groups

    @model_validator(mode="after")
    def _costs_name_groups(self) -> OrgChart:
        unknown = sorted(set(self.cost_per_hour) - set(self.groups))
        if unknown:
            known = ", ".join(sorted(self.groups)) or "none"
            names = ", ".join(unknown)
            raise ValueError(f"cost_per_hour names groups that are not in groups: {names} (groups: {known})")
        return self

    @model_validator(mode="after")
    def _managers_are_known(self) -> OrgChart:
        for user_id, person in self.people.items():
            if person.manager == user_id:
                raise ValueError(f"{user_id} ({person.name}) cannot be their own manager")
        return self


class OrgDirectory:
    """The engine's view of people: the org chart, Slack user groups fetched earlier, and admins."""

    def __init__(
        self,
        chart: OrgChart,
        *,
        admins: tuple[str, ...] = (),
        usergroups: Mapping[str, tuple[str, ...]] | None = None,
        delegations: Mapping[str, str] | None = None,
        zones: Callable[[str], str | None] | None = None,
    ) -> None:
        self._zones = zones or (lambda _user: None)
        self._chart = chart
        self._admins = admins
        self._usergroups: Mapping[str, tuple[str, ...]] = usergroups if usergroups is not None else {}
        self._delegations = dict(delegations or {})

    @property
    def chart(self) -> OrgChart:
        return self._chart

    @property
    def admins(self) -> tuple[str, ...]:
        return self._admins

    def manager_of(self, user_id: str) -> str | None:
        person = self._chart.people.get(user_id)
        return person.manager if person else None

    def members_of(self, group: str) -> tuple[str, ...] | None:
        return self._chart.groups.get(group)

    def usergroup_members(self, handle: str) -> tuple[str, ...] | None:
        return self._usergroups.get(handle)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self._admins

    @property
    def calendar(self) -> WorkingCalendar:
        return self._chart.calendar

    def zone_of(self, user_id: str) -> ZoneInfo:
        """A person's time zone: org.yaml, else the calendar's zone, else UTC."""
        person = self._chart.people.get(user_id)
        known = person.tz if person and person.tz else self._zones(user_id)
        return zone(known, self._chart.calendar.timezone or "UTC")

    def knows_zone_of(self, user_id: str) -> bool:
        person = self._chart.people.get(user_id)
        return bool(person and person.tz) or self._zones(user_id) is not None

    def name_of(self, user_id: str) -> str | None:
        person = self._chart.people.get(user_id)
        return person.name if person else None

    def reports_of(self, manager_id: str) -> tuple[str, ...]:
        return tuple(uid for uid, person in self._chart.people.items() if person.manager == manager_id)

    def delegate_of(self, user_id: str) -> str | None:
        """Who covers for this person right now (an out-of-office delegation), if anyone."""
        return self._delegations.get(user_id)

    def with_usergroups(self, usergroups: Mapping[str, tuple[str, ...]]) -> OrgDirectory:
        return OrgDirectory(
            self._chart,
            admins=self._admins,
            usergroups={**self._usergroups, **usergroups},
            delegations=self._delegations,
            zones=self._zones,
        )

    def with_delegations(self, delegations: Mapping[str, str]) -> OrgDirectory:
        """The same directory, with the delegations in force now."""
        return OrgDirectory(
            self._chart,
            admins=self._admins,
            usergroups=self._usergroups,
            delegations=delegations,
            zones=self._zones,
        )
