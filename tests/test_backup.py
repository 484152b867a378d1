"""`python -m bot backup <file>` while a real Baton takes approvals: the copy is one consistent snapshot (every
decision in it whole: the task's state, its event and the DM update it queued), Baton serves it again as it is,
and a copy taken once the clicks stop reports and exports exactly what the live database does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.emulator import SlackDriver, SlackEmulator
from bot.reporting.audit_export import export_to_directory

from .conftest import SIGNING_SECRET
from .processes import PROJECT, BatonProcess
from .story import dm_containing
from .test_acknowledged import org_of_one_approver_teams, requests_waiting_for_approval

pytestmark = pytest.mark.slow


async def run_backup(database: Path, target: Path) -> tuple[int, str]:
    """`python -m bot backup target` as its own process, as an operator runs it beside the serving Baton."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "backup", str(target),
        cwd=PROJECT, env={**os.environ, "DATABASE_URL": f"sqlite:///{database}"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode()


async def outbox_empty(process: BatonProcess) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            async with session.get(process.url.replace("/slack/events", "/healthz")) as response:
                if (await response.json())["outbox_pending"] == 0:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("the outbox did not empty")


def decisions_in(database: Path) -> dict[str, int]:
    """Per request, the approvals its state holds, its task_approved events and the DM updates queued for them."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        states = {
            int(row[0]): sum(1 for task in json.loads(row[1])["tasks"] if task["status"] == "approved")
            for row in db.execute("SELECT id, state FROM instances")
        }
        events = dict(db.execute("SELECT instance_id, COUNT(*) FROM events WHERE kind = 'task_approved' GROUP BY 1"))
        updates = dict(
            db.execute("SELECT instance_id, COUNT(*) FROM outbox WHERE method = 'chat.update' GROUP BY instance_id")
        )
    return {
        "approved in state": sum(states.values()),
        "approval events": sum(int(count) for count in events.values()),
        "requests whose state and events disagree": sum(
            1 for instance, approved in states.items() if approved != int(events.get(instance, 0))
        ),
        "approved requests without a queued DM update": sum(
            1 for instance, approved in states.items() if approved and not updates.get(instance)
        ),
    }


async def test_a_backup_taken_while_approvals_arrive_is_one_snapshot_that_baton_serves_and_reports_again(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    pairs = org_of_one_approver_teams(tmp_path, slack)
    database = tmp_path / "baton.db"
    process = BatonProcess(slack, database, tmp_path / "workflows", tmp_path / "baton.log")
    during, after = tmp_path / "during.db", tmp_path / "after.db"
    try:
        await process.start()
        tasks = await requests_waiting_for_approval(process, slack, pairs)
        async with SlackDriver(process.url, SIGNING_SECRET, slack) as driver:
            clicks = [
                asyncio.create_task(driver.click_button_in(tasks[employee], manager, "task_approve"))
                for employee, manager in pairs
            ]
            await asyncio.sleep(0.02)  # some decisions committed, others on their way
            status, said = await run_backup(database, during)
            answers = await asyncio.gather(*clicks)
        assert status == 0, said
        assert f"backed up to {during}" in said and "requests" in said, said
        assert all(answer.status == 200 for answer in answers)

        taken = decisions_in(during)  # whole decisions only, however many there were at that moment
        assert taken["requests whose state and events disagree"] == 0, taken
        assert taken["approved requests without a queued DM update"] == 0, taken
        assert taken["approved in state"] == taken["approval events"] <= len(pairs), taken

        for employee, _manager in pairs:  # all decided and told: nothing more will change
            await dm_containing(slack, employee, "was *completed*", timeout=30)
        await outbox_empty(process)
        status, said = await run_backup(database, after)
        assert status == 0, said
        live_export, copy_export, now = tmp_path / "live", tmp_path / "copy", datetime.now(UTC)
        await export_to_directory(f"sqlite:///{database}", live_export, workflow=None, since=None, now=now)
        await export_to_directory(f"sqlite:///{after}", copy_export, workflow=None, since=None, now=now)
        assert sorted(path.name for path in copy_export.iterdir()) == ["events.csv", "instances.csv"]
        for name in sorted(path.name for path in live_export.iterdir()):
            assert (copy_export / name).read_bytes() == (live_export / name).read_bytes(), name
        assert decisions_in(after)["approval events"] == len(pairs)
    finally:
        process.stop()

    # The copy taken mid-burst is a database Baton serves as it is (schema current, so no migration), against
    # the same workspace: what was still queued in it at that moment is delivered, nothing fails.
    with contextlib.closing(sqlite3.connect(during)) as db:
        queued = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    restored = BatonProcess(slack, during, tmp_path / "workflows", tmp_path / "restored.log", auto_migrate="false")
    calls_before = len(slack.calls)
    try:
        await restored.start()
        await outbox_empty(restored)
    finally:
        restored.stop()
    with contextlib.closing(sqlite3.connect(during)) as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
    assert set(statuses) == {"sent"}, statuses
    assert len(slack.calls) - calls_before >= queued


async def test_a_backup_refuses_plainly_what_it_cannot_do(tmp_path: Path) -> None:
    status, said = await run_backup(tmp_path / "missing.db", tmp_path / "copy.db")
    assert status == 2 and "there is no database at" in said, said
    assert not (tmp_path / "copy.db").exists()
    database = tmp_path / "baton.db"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    status, said = await run_backup(database, database)
    assert status == 2 and "would overwrite the database itself" in said, said
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "backup", str(tmp_path / "pg.dump"),
        cwd=PROJECT, env={**os.environ, "DATABASE_URL": "postgresql://baton:s3cret@db.example/baton"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output = (await process.communicate())[0].decode()
    assert process.returncode == 2 and "pg_dump" in output and "pg_restore" in output, output
    assert "s3cret" not in output  # the URL is shown without its password
