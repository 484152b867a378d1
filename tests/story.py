"""Helpers for end-to-end stories: find what Baton sent someone, and answer it the way a person would."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from bot.app import Baton
from bot.emulator import Message, SlackDriver, SlackEmulator, find_action
from bot.emulator.payloads import (
    action_from_element,
    checkboxes_value,
    date_value,
    datetime_value,
    email_value,
    file_input_value,
    multi_static_select_value,
    multi_users_value,
    number_value,
    plain_text_value,
    radio_value,
    rich_text_value,
    static_select_value,
    url_value,
    user_value,
)

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


def text_of(message: Message) -> str:
    """Everything a person reads in a message: fallback text and every block's text."""
    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)


async def task_message(
    slack: SlackEmulator, user: str, action_id: str, *, containing: str = "", timeout: float = 5.0
) -> Message:
    """Wait for the DM to `user` that offers the button `action_id` (and mentions `containing`)."""

    def find() -> Message | None:
        for message in reversed(slack.dm_messages(user)):
            if find_action(message.blocks, action_id) and containing in text_of(message):
                return message
        return None

    return await slack.wait_for(find, timeout, what=f"a DM to {user} with {action_id} {containing!r}")


async def dm_containing(slack: SlackEmulator, user: str, text: str, *, timeout: float = 5.0) -> Message:
    """Wait for a DM to `user` whose content contains `text`."""

    def find() -> Message | None:
        return next((m for m in reversed(slack.dm_messages(user)) if text in text_of(m)), None)

    return await slack.wait_for(find, timeout, what=f"a DM to {user} containing {text!r}")


async def updated(slack: SlackEmulator, message: Message, containing: str, *, timeout: float = 5.0) -> Message:
    """Wait until `message` was edited in place and now contains `containing`."""

    def find() -> Message | None:
        current = slack.message(message.channel, message.ts)
        return current if current is not None and current.updates and containing in text_of(current) else None

    return await slack.wait_for(find, timeout, what=f"message {message.ts} updated with {containing!r}")


async def told(slack: SlackEmulator, user: str, containing: str, *, timeout: float = 5.0) -> str:
    """Wait until `user` was told something privately: an ephemeral, or a DM where no ephemeral can go."""

    def find() -> str | None:
        notes = [e.text for e in slack.ephemerals(user)] + [m.text for m in slack.dm_messages(user)]
        return next((text for text in notes if containing in text), None)

    return await slack.wait_for(find, timeout, what=f"a private note to {user} containing {containing!r}")


_ELEMENT_STATES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "date": date_value,
    "user": user_value,
    "select": lambda v: static_select_value(v, v),
    "multi_select": lambda vs: multi_static_select_value((v, v) for v in vs),
    "multi_user": multi_users_value,
    "checkboxes": lambda vs: checkboxes_value((v, v) for v in vs),
    "radio": lambda v: radio_value(v, v),
    "datetime": datetime_value,
    "email": email_value,
    "url": url_value,
    "rich_text": rich_text_value,
    "files": file_input_value,
}


def field_values(**fields: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """View state for a start form, from python values: str, int/float, or (kind, value) with kind one of
    date, user, select, multi_select, multi_user, checkboxes, radio (option values or user IDs), datetime (a Unix
    timestamp), email, url, rich_text (text) and files (file objects from `slack.attach_file`)."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for name, raw in fields.items():
        if isinstance(raw, tuple):
            kind, value = raw
            element = _ELEMENT_STATES[kind](value)
        elif isinstance(raw, int | float):
            element = number_value(raw)
        else:
            element = plain_text_value(raw)
        values[f"field:{name}"] = {"value": element}
    return values


async def start_with_form(
    driver: SlackDriver, slack: SlackEmulator, user: str, workflow: str, **fields: Any
) -> dict[str, Any]:
    """Run `/workflow start <workflow>`, wait for the modal, submit it; return the submitted view."""
    response = await driver.send_command(user, f"start {workflow}")
    assert response.status == 200, response.body
    view = await slack.wait_for(lambda: (slack.open_views(user) or [None])[-1], what=f"{workflow} form for {user}")
    submitted = await driver.submit_view(user, view, field_values(**fields))
    assert submitted.status == 200, submitted.body
    assert "errors" not in submitted.body, submitted.body  # the form was accepted
    return view


async def start_expense(
    driver: SlackDriver, slack: SlackEmulator, user: str, amount: int | str, reason: str, currency: str = "EUR"
) -> dict[str, Any]:
    """`user` asks for an expense approval through the form: the most common start in these tests."""
    return await start_with_form(
        driver, slack, user, "expense-approval", amount=amount, currency=("select", currency), reason=reason
    )


async def choose_in(driver: SlackDriver, message: Message, user: str, action_id: str, value: str) -> None:
    """Pick `value` in the select menu `action_id` of a message, as `user`."""
    found = find_action(message.blocks, action_id)
    assert found is not None, f"no {action_id} in {text_of(message)}"
    block_id, element = found
    action = action_from_element(element, block_id=block_id, value=value)
    response = await driver.click(
        user, action_id=action_id, message=message, block_id=block_id, action=action, action_type=action["type"]
    )
    assert response.status == 200, response.body


async def ask_for_changes(driver: SlackDriver, slack: SlackEmulator, task: Message, user: str, comment: str) -> None:
    """`user` picks ⋯ → *Ask for changes* on a task DM and sends `comment` from its modal."""
    await choose_in(driver, task, user, "task_more", "request_changes")
    modal = await slack.wait_for(lambda: (slack.open_views(user) or [None])[-1])
    note = {"comment": {"value": {"type": "plain_text_input", "value": comment}}}
    answer = await driver.submit_view(user, modal, note)
    assert answer.status == 200, answer.body


def copy_workflows(target: Path, **extra_files: str) -> Path:
    """The shipped workflows plus extra files (name without .yaml -> YAML text)."""
    shutil.copytree(WORKFLOWS, target)
    for name, text in extra_files.items():
        (target / f"{name}.yaml").write_text(text)
    return target


def big_org(directory: Path, teams: int, team_size: int) -> list[tuple[str, str]]:
    """Write an org.yaml with `teams` managers of `team_size` people each; return (employee, manager) pairs."""
    people: dict[str, dict[str, str]] = {}
    pairs = []
    for team in range(teams):
        manager = f"U0M{team:04d}"
        people[manager] = {"name": f"Manager {team}", "tz": "UTC"}
        for member in range(team_size):
            employee = f"U0E{team:04d}{member:02d}"
            people[employee] = {"name": f"Employee {team}-{member}", "manager": manager, "tz": "UTC"}
            pairs.append((employee, manager))
    (directory / "org.yaml").write_text(yaml.safe_dump({"people": people, "groups": {"finance": ["U0FIONA"]}}))
    return pairs


ALWAYS_OPEN = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59:59"}
"""A calendar open at every hour: for tests whose reminders must not wait for working hours."""


def manager_approval(name: str, *, due: str, escalate_after: str | None = None) -> str:
    """A one-step workflow: the requester's manager approves an item, reminded at the due time."""
    escalate = f"\n    escalate: {{after: {escalate_after}, to: [assignee.manager]}}" if escalate_after else ""
    return f"""
name: {name}
title: {name.capitalize()}
form:
  - {{id: item, label: Item}}
steps:
  - id: check
    type: approval
    title: Check {{form.item}}
    assignee: requester.manager
    due: {due}
    remind: {{at_due: true}}{escalate}
"""


@asynccontextmanager
async def served(application: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp application on a free port of 127.0.0.1 (a webhook receiver); yield its base URL."""
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


T = TypeVar("T")


async def while_the_store_is_busy(baton: Baton, requests: Collection[int], clicks: Sequence[Awaitable[T]]) -> list[T]:
    """Send these clicks while a transaction holds the store (SQLite's one writer; on PostgreSQL, the rows of
    these requests), so that they queue up and are committed together once it lets go; their answers."""
    async with baton.store.transaction() as work:
        await work.instances(requests)
        sent = [asyncio.ensure_future(click) for click in clicks]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while baton.service.commands_in_flight < len(sent) and loop.time() < deadline:
            await asyncio.sleep(0.01)  # until every click has arrived and waits for its commit
        assert baton.service.commands_in_flight == len(sent), "not every click reached the store's queue"
    return await asyncio.gather(*sent)


def commits_of_clicks(baton: Baton) -> tuple[float, float]:
    """(transactions that committed commands on tasks, commands they committed), from Baton's own metrics."""
    registry = baton.metrics.registry
    count = registry.get_sample_value("baton_commands_per_commit_count") or 0.0
    total = registry.get_sample_value("baton_commands_per_commit_sum") or 0.0
    return count, total
