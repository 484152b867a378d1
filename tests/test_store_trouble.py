"""When the store cannot commit, Slack's answer says so: never a silent 200 for something that was not recorded.

The failure is a real one in the database (a trigger that refuses new events, as a full disk or a broken
replica would), not a fake of Baton's code. Once the database works again, the same click is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import asyncpg

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator, find_action
from bot.slack.failures import MODAL_FAILURE

from .story import dm_containing, start_expense, task_message, text_of

ALICE, MARIA = "U0ALICE", "U0MARIA"
REFUSAL = "Baton could not record anything: disk trouble"


def _refuse_sqlite_events(database: str, *, refuse: bool) -> None:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        if refuse:
            db.execute(
                f"CREATE TRIGGER store_trouble BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )
        else:
            db.execute("DROP TRIGGER store_trouble")
        db.commit()


async def refuse_new_events(database_url: str, *, refuse: bool) -> None:
    """Make the database refuse (or accept again) every new event, from outside Baton."""
    if database_url.startswith("sqlite:///"):  # in a thread: Baton's units of work go on in this loop meanwhile
        await asyncio.to_thread(_refuse_sqlite_events, database_url.removeprefix("sqlite:///"), refuse=refuse)
        return
    connection = await asyncpg.connect(database_url)
    try:
        if refuse:
            await connection.execute(
                f"CREATE FUNCTION store_trouble() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$ "
                "LANGUAGE plpgsql; "
                "CREATE TRIGGER store_trouble BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION store_trouble()"
            )
        else:
            await connection.execute("DROP TRIGGER store_trouble ON events; DROP FUNCTION store_trouble()")
    finally:
        await connection.close()


async def decisions(baton: Baton) -> list[str]:
    async with baton.store.transaction(read_only=True) as work:
        return [entry.kind for entry in await work.audit_trail(1) if entry.kind.startswith("task_")]


async def test_a_click_the_store_could_not_record_is_told_to_the_person_and_recorded_once_the_store_is_back(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, database_url: str
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Taxi to the airport")
    task = await task_message(slack, MARIA, "task_approve")
    await refuse_new_events(database_url, refuse=True)
    answer = await driver.click_button_in(task, MARIA, "task_approve")
    assert answer.status == 200  # Slack shows no error of its own for a click: the note is Baton's
    note = await slack.wait_for(
        lambda: next((e for e in slack.ephemerals(MARIA) if "may not have been recorded" in e.text), None),
        what="a note to Maria that her approval was not recorded",
    )
    assert note is not None
    assert "task_approved" not in await decisions(baton)
    assert find_action(slack.dm_messages(MARIA)[-1].blocks, "task_approve") is not None  # still undecided

    await refuse_new_events(database_url, refuse=False)
    assert (await driver.click_button_in(task, MARIA, "task_approve")).status == 200
    await dm_containing(slack, ALICE, "was *completed*")
    assert (await decisions(baton)).count("task_approved") == 1


async def test_a_command_the_store_could_not_record_answers_with_the_failure(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, database_url: str
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Taxi to the airport")
    await task_message(slack, MARIA, "task_approve")
    await refuse_new_events(database_url, refuse=True)
    answer = await driver.send_command(ALICE, "cancel 1 changed my mind")
    assert answer.status == 200
    assert "may not have been recorded" in answer.json()["text"] and "cancelled" not in answer.json()["text"]
    async with baton.store.transaction(read_only=True) as work:
        instance = await work.instance(1)
    assert instance is not None and instance.status.value == "running"


async def test_a_modal_the_store_could_not_record_stays_open_with_the_failure_on_it(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, database_url: str
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Taxi to the airport")
    task = await task_message(slack, MARIA, "task_approve")
    assert (await driver.click_button_in(task, MARIA, "task_reject")).status == 200
    modal = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1], what="the reject reason modal")
    await refuse_new_events(database_url, refuse=True)
    values = {"comment": {"value": {"type": "plain_text_input", "value": "Not in budget"}}}
    answer = await driver.submit_view(MARIA, modal, values)
    assert answer.status == 200
    assert answer.json() == {"response_action": "errors", "errors": {"comment": MODAL_FAILURE}}
    assert slack.open_views(MARIA), "the modal was closed although nothing was recorded"
    assert "task_rejected" not in await decisions(baton)
    assert "Not in budget" not in text_of(slack.dm_messages(ALICE)[-1])
