"""`/workflow report` and `/workflow export` in Slack, and the weekly reports posted to channels."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.engine import WorkflowDefinition
from bot.engine.integrations import last_report_due
from bot.engine.kpis import Period, parse_period
from bot.engine.worktime import zone
from bot.reporting.audit_export import events_csv, instances_csv, load_export
from bot.reporting.kpi_report import build_report, parse_report_request, visible_workflows
from bot.reporting.summary import chart_png, report_blocks, report_text, tasks_chart_png
from bot.service import WorkflowService
from bot.store import Store
from bot.workflow_steps import APPROVAL_WORKFLOW, approvals_for_reports

__all__ = ["ReportDesk"]

log = logging.getLogger(__name__)

_LATE_REPORT = 24 * 3600  # a weekly report more than a day late (Baton was down) is skipped, not sent stale
_SEND_ERRORS = (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError, OSError)


class ReportDesk:
    """Builds reports and exports for the people allowed to see them, and posts them."""

    def __init__(self, service: WorkflowService, store: Store, clock: Clock) -> None:
        self._service = service
        self._store = store
        self._clock = clock

    # ---- /workflow report|export [workflow] [period] -------------------------------------------------

    async def slash_command(
        self, ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient
    ) -> Coroutine[Any, Any, None] | None:
        """Answer the command; return the work that makes and sends what was asked for, if anything."""
        words = str(command.get("text") or "").split()
        verb, arguments = words[0].lower(), words[1:4]
        user_id = str(command.get("user_id", ""))
        request = parse_report_request(arguments, self._clock.now())
        if request.problem is not None or request.period is None:
            await ack(text=f"{request.problem} Usage: `/workflow {verb} [workflow] [period]`.")
            return None
        reportable = self._reportable(asked_for=request.workflow)
        workflows = visible_workflows(user_id, self._service.directory, reportable, only=request.workflow)
        if isinstance(workflows, str):
            await ack(text=workflows)
            return None
        what = "report" if verb == "report" else "export"
        await ack(text=f":hourglass_flowing_sand: Preparing the {what} ({request.period.label}); it comes to your DM.")
        return self._prepare(client, verb, user_id, workflows, request.period)

    async def _prepare(
        self, client: AsyncWebClient, verb: str, user_id: str, workflows: list[str], period: Period
    ) -> None:
        what = "report" if verb == "report" else "export"
        try:
            if verb == "report":
                await self.send_report(client, user_id, workflows, period)
            else:
                await self.send_export(client, user_id, workflows, period)
        except _SEND_ERRORS as error:
            log.warning("%s for user=%s failed: %r", what, user_id, error, extra={"user": user_id})
            await _note(client, user_id, f"The {what} could not be delivered ({type(error).__name__}). Try again.")
        except Exception:  # whatever broke, the person who asked is not left with "Preparing…" for ever
            log.exception("%s for user=%s failed", what, user_id, extra={"user": user_id})
            await _note(client, user_id, f"The {what} could not be made; the admins can find why in Baton's log.")

    async def send_report(self, client: AsyncWebClient, conversation: str, workflows: list[str], period: Period) -> str:
        """Post the summary and its chart to a conversation (a person or a channel); return the channel ID."""
        report = await build_report(
            self._store,
            period,
            now=self._clock.now(),
            workflows=workflows,
            directory=self._service.directory,
            definitions=list(self._service.catalog.workflows.values()),
        )
        titles = self._titles(workflows)
        posted = await client.chat_postMessage(
            channel=conversation, text=report_text(report, titles)[:3000], blocks=report_blocks(report, titles)
        )
        channel = str(posted["channel"])
        title = next(iter(titles.values())) if len(titles) == 1 else f"{len(titles)} workflows"
        png = await asyncio.to_thread(chart_png, report, title)
        tasks_png = await asyncio.to_thread(tasks_chart_png, report, title)
        stem = f"baton-report-{_slug(title)}-{period.label.replace(' ', '-')}"
        await client.files_upload_v2(
            channel=channel,
            file_uploads=[
                {
                    "file": png,
                    "filename": f"{stem}.png",
                    "title": f"{title}: throughput and cycle time per week",
                    "alt_txt": f"Bars of completed requests and a line of median cycle time per week, {period.label}",
                },
                {
                    "file": tasks_png,
                    "filename": f"{stem}-tasks.png",
                    "title": f"{title}: tasks opened, decided and open per week",
                    "alt_txt": f"Bars of tasks opened and decided, a line of tasks open, per week ({period.label})",
                },
            ],
        )
        log.info("report sent: workflows=%s period=%s to=%s", ",".join(workflows), period.label, conversation)
        return channel

    async def send_export(self, client: AsyncWebClient, user_id: str, workflows: list[str], period: Period) -> None:
        """Upload instances.csv and events.csv to the person's DM."""
        export = await load_export(self._store, period.start, period.end, workflows=workflows)
        posted = await client.chat_postMessage(
            channel=user_id,
            text=(
                f":card_index_dividers: Audit export, {period.label}: {len(export.instances)} requests and "
                f"{len(export.events)} events ({', '.join(workflows) if len(workflows) <= 3 else 'all workflows'})."
            ),
        )
        stem = f"baton-{_slug(workflows[0]) if len(workflows) == 1 else 'all'}-{period.label.replace(' ', '-')}"
        await client.files_upload_v2(
            channel=str(posted["channel"]),
            file_uploads=[
                {"content": instances_csv(export.instances), "filename": f"{stem}-instances.csv", "title": "Requests"},
                {"content": events_csv(export.events), "filename": f"{stem}-events.csv", "title": "Event log"},
            ],
        )
        log.info("export sent: user=%s workflows=%s period=%s", user_id, ",".join(workflows), period.label)

    # ---- weekly reports ----------------------------------------------------------------------------

    async def send_weekly_reports(self, client: AsyncWebClient) -> int:
        """Post each workflow's weekly report once, when its time has come (in the org calendar's time zone)."""
        now = self._clock.now()
        tz = zone(self._service.directory.calendar.timezone, "UTC")
        sent = 0
        for name, definition in sorted(self._service.catalog.workflows.items()):
            schedule = definition.report
            if schedule is None:
                continue
            due = last_report_due(schedule, now, tz)
            if (now - due).total_seconds() > _LATE_REPORT:
                continue
            key = f"weekly-report:{name}:{due.isoformat()}"
            if not await self._service.sightings.first_sighting(key):
                continue  # claimed before sending, so several processes send it once
            try:
                await self.send_report(client, schedule.channel, [name], parse_period(schedule.period, now))
                sent += 1
            except _SEND_ERRORS as error:
                await self._service.sightings.forget_sighting(key)  # the next sweep tries again (for up to a day)
                log.error(
                    "weekly report of %s to %s failed, will retry: %r", name, schedule.channel, error,
                    extra={"workflow": name},
                )
        return sent

    def _reportable(self, *, asked_for: str | None) -> dict[str, WorkflowDefinition]:
        """The workflow files; and, asked for by name, the approvals Workflow Builder steps asked for."""
        files = dict(self._service.catalog.workflows)
        return {**files, APPROVAL_WORKFLOW: approvals_for_reports()} if asked_for == APPROVAL_WORKFLOW else files

    def _titles(self, workflows: list[str]) -> dict[str, str]:
        known = self._reportable(asked_for=APPROVAL_WORKFLOW)
        return {name: known[name].title if name in known else name for name in workflows}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "report"


async def _note(client: AsyncWebClient, user_id: str, text: str) -> None:
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except _SEND_ERRORS as error:
        log.warning("could not tell user=%s: %r", user_id, error)
