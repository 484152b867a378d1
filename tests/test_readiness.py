"""/readyz: 200 when this process should get requests; 503 while it stops, or when the schema is not its own."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import aiohttp

from bot.emulator import SlackEmulator
from bot.store.schema import SCHEMA_VERSION

from .conftest import running_baton
from .story import start_expense

ALICE = "U0ALICE"  # in the shipped org.yaml


async def _ready(base: str, *, host: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Host": host} if host else {}
    async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz", headers=headers) as response:
        return response.status, await response.json()


def _migrate_as_a_newer_release(database: Path) -> None:
    """Another process's write: in a thread of its own, so this event loop (Baton's too) goes on meanwhile;
    waiting on the lock here while a Baton unit of work holds it would deadlock the two for the busy timeout."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as newer_baton:
        newer_baton.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
        newer_baton.commit()


def _base(events_url: str) -> str:
    return events_url.removesuffix("/slack/events")


async def test_readyz_is_200_for_a_running_baton_and_names_nothing_whatever_the_host(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        base = _base(driver.baton_url)
        assert await _ready(base) == (200, {"ready": True})
        assert await _ready(base, host="evil.example.com") == (200, {"ready": True})


async def test_readyz_is_503_when_the_database_schema_is_not_the_one_this_baton_needs(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        base = _base(driver.baton_url)
        assert (await _ready(base))[0] == 200
        await asyncio.to_thread(_migrate_as_a_newer_release, tmp_path / "baton.db")
        status, body = await _ready(base)
        assert (status, body) == (503, {"ready": False, "reason": "schema"})
        assert "baton.db" not in str(body)


async def test_readyz_is_503_from_the_first_moment_of_a_stop_while_slack_is_still_answered(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack, stop_notice_seconds=3.0) as (baton, driver):
        base = _base(driver.baton_url)
        assert (await _ready(base))[0] == 200
        stop = asyncio.create_task(baton.stop())
        await asyncio.sleep(0.2)
        assert await _ready(base) == (503, {"ready": False, "reason": "stopping"})
        started = await start_expense(driver, slack, ALICE, 120, "train ticket")  # still served during the notice
        assert started
        await stop
