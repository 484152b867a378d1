"""`python -m bot forget <user>` after real requests through signed HTTP: afterwards the export, `/workflow status`
and the stored rows name the person nowhere (neither id nor name nor email), each request concerned has a history
line saying personal data was erased, and running it again changes nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.app import Baton
from bot.emulator import HttpError, SlackDriver, SlackEmulator

from .conftest import ADMIN
from .databases import query, sent_all_but
from .processes import PROJECT
from .story import start_expense, start_with_form, task_message

ALICE, BOB, MARIA, FIONA = "U0ALICE", "U0BOB", "U0MARIA", "U0FIONA"
ALICE_NAMED = ("U0ALICE", "Alice Example", "alice@example.com")


async def forget(database_url: str, who: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "forget", who,
        cwd=PROJECT, env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode()


async def exported(database_url: str, directory: Path) -> str:
    from bot.reporting.audit_export import export_to_directory

    await export_to_directory(database_url, directory, workflow=None, since=None, now=datetime.now(UTC))
    return "\n".join((directory / name).read_text(encoding="utf-8") for name in ("instances.csv", "events.csv"))


REPORT_ROWS = (  # what reports read of a finished request (bot/store/report_rows.py)
    "SELECT instance_id, requester FROM report_requests ORDER BY instance_id",
    "SELECT task_id, assignees FROM report_tasks ORDER BY task_id",
)


async def stored_text(database_url: str) -> str:
    """Every stored row that could name a person, as text."""
    rows = []
    for sql in (
        "SELECT id, requester, state FROM instances ORDER BY id",
        "SELECT id, acted_by FROM tasks ORDER BY id",
        "SELECT task_id, user_id FROM task_assignees ORDER BY task_id, user_id",
        "SELECT id, actor, data FROM events ORDER BY id",
        "SELECT id, conversation, args, message_key, thread_of, link_to FROM outbox ORDER BY id",
        "SELECT message_key FROM slack_messages ORDER BY message_key",
        "SELECT request_key FROM seen_requests ORDER BY request_key",
        *REPORT_ROWS,
    ):
        rows.extend(repr(row) for row in await query(database_url, sql))
    return "\n".join(rows)


def naming(text: str) -> list[str]:
    return [needle for needle in ALICE_NAMED if needle.lower() in text.lower()]


async def test_forget_pseudonymises_a_person_everywhere_once_and_says_so_in_each_history(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, database_url: str, tmp_path: Path
) -> None:
    # Alice asks for an expense that mentions her by name and email; her manager and finance approve it.
    await start_expense(driver, slack, ALICE, 1250, "Dinner with Alice Example's team; receipt to alice@example.com")
    await driver.click_button_in(await task_message(slack, MARIA, "task_approve"), MARIA, "task_approve")
    await driver.click_button_in(await task_message(slack, FIONA, "task_approve"), FIONA, "task_approve")
    # Bob has a draft reviewed by Alice (a user field holding her id), and she approves it.
    await start_with_form(driver, slack, BOB, "content-review", draft_url="https://docs.example.com/d/1",
                          reviewer=("user", ALICE))  # fmt: skip
    review = await task_message(slack, ALICE, "task_approve")
    slack.inject("chat.update", HttpError(500), times=None, channel=review.channel)  # her DM's edit waits
    await driver.click_button_in(review, ALICE, "task_approve")
    await sent_all_but(database_url, ALICE)
    waiting = await query(database_url, f"SELECT id FROM outbox WHERE status = 'pending' AND conversation = '{ALICE}'")
    assert waiting
    assert sorted(int(row[0]) for row in await query(database_url, "SELECT id FROM instances")) == [1, 2]
    assert naming(await exported(database_url, tmp_path / "before")) == list(ALICE_NAMED)  # she is there, fully
    reported = [row for sql in REPORT_ROWS for row in await query(database_url, sql)]
    assert any(row[1] == ALICE for row in reported)  # the expense she asked for has finished: its report rows

    status, said = await forget(database_url, "alice@example.com")  # by email, as org.yaml knows her
    assert status == 0, said
    assert "forgot U0ALICE: now forgotten-" in said and "2 requests got a history line" in said, said
    assert "remove U0ALICE from org.yaml" in said, said
    assert f"{len(waiting)} messages to them will not be sent" in said, said
    slack.clear_faults()
    pending = await query(database_url, "SELECT id FROM outbox WHERE status = 'pending'")
    dropped = await query(database_url, "SELECT id FROM outbox WHERE last_error LIKE 'not sent: its recipient%'")
    assert sorted(dropped) == sorted(waiting) and not set(pending) & set(waiting)
    pseudonym = said.split("now ", 1)[1].split(" ", 1)[0]

    export = await exported(database_url, tmp_path / "after")
    assert naming(export) == [], export
    assert naming(await stored_text(database_url)) == []
    assert pseudonym in export and export.count("personal_data_erased") == 2
    for request in (1, 2):
        answer = await driver.send_command(ADMIN, f"status {request}")
        assert answer.status == 200 and naming(answer.body) == [], answer.body
        assert "a person&#39;s personal data was erased here" in answer.body or "personal data was erased here" in (
            answer.body
        ), answer.body
    states = await query(database_url, "SELECT requester, state FROM instances ORDER BY id")
    assert states[0][0] == pseudonym and f'"reviewer":"{pseudonym}"' in str(states[1][1]).replace(" ", "")

    before_again = await stored_text(database_url)
    status, said = await forget(database_url, ALICE)
    assert status == 0 and "nothing to change" in said, said
    assert await stored_text(database_url) == before_again
    assert (await exported(database_url, tmp_path / "again")) == export


async def test_forget_refuses_plainly_whom_it_cannot_name(database_url: str) -> None:
    status, said = await forget(database_url, "nobody@example.com")
    assert status == 2 and "nobody in org.yaml has the email" in said, said
    status, said = await forget(database_url, "not a user")
    assert status == 2 and "neither a Slack user id" in said, said
