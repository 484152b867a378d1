"""The App Home tab: what I owe (overdue first), what I wait for, my team's open work, and what I can start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.engine import Task
from bot.reporting.summary import report_blocks
from bot.service import HomeData

from .blocks import Block, context, divider, fit_blocks, header, section
from .home_start import MAX_START_BUTTONS, start_buttons
from .maps import map_buttons
from .messages import button_labels, how_long, requests_blocks, task_buttons, when
from .wording import shown

__all__ = ["home_view"]


def home_view(home: HomeData) -> dict[str, Any]:
    """The Home tab for one person."""
    now = home.now
    tasks = sorted(home.tasks, key=lambda item: _urgency(item[2], now))
    blocks: list[Block] = [header(f"Your open tasks ({len(tasks)})")]
    if not tasks:
        blocks.append(section(":tada: Nothing waiting for you."))
    for definition, instance, task in tasks[:15]:
        blocks.append(section(f"*{shown(task.title)}*\n{instance.title} from <@{instance.requester}>{_due(task, now)}"))
        allow_changes = task.kind.value == "approval" and definition.step(task.step_id).allow_changes
        blocks.append(task_buttons(task, allow_changes=allow_changes, labels=button_labels(definition, task)))
    if len(tasks) > 15:
        blocks.append(context(f"…and {len(tasks) - 15} more: `/workflow tasks`"))
    blocks.append(divider())
    blocks.extend(requests_blocks(home.requests[:10]))
    if home.team:
        team = sorted(home.team, key=lambda item: _urgency(item[2], now))
        overdue = sum(1 for _holder, _instance, task in team if task.due_at and task.due_at < now)
        blocks.append(divider())
        blocks.append(header(f"Your team: {len(team)} open, {overdue} overdue"))
        for holder, instance, task in team[:15]:
            blocks.append(section(f"<@{holder}>: *{shown(task.title)}* — {instance.title}{_due(task, now)}"))
    if home.owner_report is not None:
        blocks.append(divider())
        blocks.append(header("Your workflows, last 30 days"))
        open_now = " · ".join(f"{home.owned[name]} *{count}*" for name, count in home.owner_open.items())
        if open_now:
            blocks.append(context(f"Open tasks now: {open_now}"))
        blocks.extend(report_blocks(home.owner_report, home.owned)[:8])
        blocks.append(context("More: `/workflow report &lt;workflow&gt; 12w` (with a chart), `/workflow export`"))
        blocks.extend(map_buttons(home.owned))
    blocks.append(divider())
    blocks.append(header("Start something"))
    if not home.startable:
        blocks.append(context("There is no workflow you may start."))
    blocks.extend(start_buttons(home.startable))
    beyond = home.startable[MAX_START_BUTTONS:]
    if beyond:
        names = ", ".join(f"`{d.name}`" for d in beyond)
        blocks.append(context(f"Also: {names} — `/workflow start &lt;name&gt;`"))
    return {"type": "home", "blocks": fit_blocks(blocks, 100)}


def _urgency(task: Task, now: datetime) -> tuple[int, float]:
    """Overdue first (most overdue on top), then by due time, then undated."""
    if task.due_at is None:
        return (2, task.created_at.timestamp())
    return (0 if task.due_at < now else 1, task.due_at.timestamp())


def _due(task: Task, now: datetime) -> str:
    if task.due_at is None:
        return ""
    if task.due_at < now:
        return f" · :alarm_clock: overdue by {how_long(now - task.due_at)}"
    return f" · due {when(task.due_at)}"
