"""The optional `report:` and `webhooks:` blocks of a workflow file, and when a weekly report falls due."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["BATON_SECRETS", "ReportSchedule", "WebhookEvent", "WebhookSpec", "is_batons_secret", "last_report_due"]

# Baton's own secrets (its settings), which a webhook must never be signed with: whoever receives the webhook
# could then forge Slack requests, post as Baton, or start requests through the API.
BATON_SECRETS = frozenset(
    {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "SLACK_API_URL",
        "API_TOKEN",
        "API_TOKENS",
        "METRICS_TOKEN",
        "DATABASE_URL",
        "PGPASSWORD",
    }
)


def is_batons_secret(name: str) -> bool:
    """True for an environment variable that holds one of Baton's own secrets (or any SLACK_ setting)."""
    return name.upper() in BATON_SECRETS or name.upper().startswith("SLACK_")

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKLY = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+([01]?\d|2[0-3]):([0-5]\d)$")
_PERIOD = re.compile(r"^(\d{1,3}[dw])$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReportSchedule(_Frozen):
    """`report: {channel: "#ops", weekly: "mon 09:00"}`: post the workflow's report to a channel every week."""

    channel: Annotated[str, Field(pattern=r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,})$")]
    weekly: str = "mon 09:00"
    period: str = "12w"

    @field_validator("weekly")
    @classmethod
    def _day_and_time(cls, value: str) -> str:
        text = " ".join(value.strip().lower().split())
        if not _WEEKLY.match(text):
            raise ValueError(f"{value!r} is not a day and a time; write e.g. mon 09:00")
        return text

    @field_validator("period")
    @classmethod
    def _relative_period(cls, value: str) -> str:
        if not _PERIOD.match(value.strip().lower()):
            raise ValueError(f"{value!r} is not a period; write e.g. 30d or 12w")
        return value.strip().lower()

    @property
    def weekday(self) -> int:
        return _DAYS.index(self.weekly[:3])

    @property
    def at(self) -> time:
        hours, minutes = self.weekly.split()[1].split(":")
        return time(int(hours), int(minutes))


def last_report_due(schedule: ReportSchedule, now: datetime, tz: ZoneInfo) -> datetime:
    """The latest scheduled moment at or before `now`, in the given time zone."""
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - schedule.weekday) % 7)
    moment = datetime.combine(day, schedule.at, tzinfo=tz)
    if moment > local:
        moment = datetime.combine(day - timedelta(days=7), schedule.at, tzinfo=tz)
    return moment


class WebhookEvent(StrEnum):
    STARTED = "started"
    STEP_DONE = "step_done"
    FINISHED = "finished"


class WebhookSpec(_Frozen):
    """`webhooks: [{url, events, secret_env}]`: POST signed JSON to a URL when a request moves."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+\S*$", max_length=2000)]
    events: tuple[WebhookEvent, ...] = (WebhookEvent.STARTED, WebhookEvent.STEP_DONE, WebhookEvent.FINISHED)
    secret_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,99}$")]

    @field_validator("secret_env")
    @classmethod
    def _not_batons_own(cls, value: str) -> str:
        if is_batons_secret(value):
            raise ValueError(
                f"{value} is one of Baton's own secrets; sign webhooks with a secret of their own, e.g. ERP_HOOK_SECRET"
            )
        return value

    @field_validator("events", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("events")
    @classmethod
    def _some_events(cls, value: tuple[WebhookEvent, ...]) -> tuple[WebhookEvent, ...]:
        if not value:
            raise ValueError("name at least one event: started, step_done or finished")
        return tuple(dict.fromkeys(value))
