"""Shared fixtures: a Slack Web API emulator on a real port, Baton on another, and a signed-request driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml

from bot.app import Baton
from bot.clock import Clock, SystemClock
from bot.emulator import SlackDriver, SlackEmulator
from bot.migrate import migrate
from bot.settings import Settings

from .databases import fresh_postgres

PROJECT = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT / "workflows"
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
ADMIN = "U0ADMIN"


def seed_people(emulator: SlackEmulator, workflows_dir: Path = WORKFLOWS) -> None:
    """Give the emulator the people of org.yaml, with their time zones."""
    org = yaml.safe_load((workflows_dir / "org.yaml").read_text()) or {}
    for user_id, person in (org.get("people") or {}).items():
        emulator.add_user(user_id, name=person["name"].split()[0].lower(), real_name=person["name"],
                          tz=person.get("tz") or "UTC", email=person.get("email"))
    emulator.add_user(ADMIN, name="admin", real_name="Ada Admin")
    emulator.add_channel("C0GENERAL", "general")
    emulator.add_channel("C0FINANCE", "finance")


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(bot_token=BOT_TOKEN)
    seed_people(emulator)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


def baton_settings(
    tmp_path: Path, slack: SlackEmulator, *, workflows_dir: Path = WORKFLOWS, database_url: str | None = None
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,  # type: ignore[arg-type]
        slack_signing_secret=SIGNING_SECRET,  # type: ignore[arg-type]
        slack_api_url=slack.api_url,
        database_url=database_url or f"sqlite:///{tmp_path / 'baton.db'}",
        workflows_dir=workflows_dir,
        baton_admins=(ADMIN,),
    )


@asynccontextmanager
async def running_baton(
    tmp_path: Path,
    slack: SlackEmulator,
    *,
    workflows_dir: Path = WORKFLOWS,
    clock: Clock | None = None,
    **overrides: object,
) -> AsyncIterator[tuple[Baton, SlackDriver]]:
    """A Baton on SQLite with some settings changed (e.g. slack_retry_max_seconds), serving, and a driver for it;
    on `clock` when given (a second one on the same files after the first stopped is a restart)."""
    settings = baton_settings(tmp_path, slack, workflows_dir=workflows_dir).model_copy(update=overrides)
    baton = Baton(settings, clock=clock) if clock is not None else Baton(settings)
    await baton.start()
    try:
        port = await baton.serve("127.0.0.1", 0)
        async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack) as driver:
            yield baton, driver
    finally:
        await baton.stop()


@pytest.fixture
def workflows_dir() -> Path:
    return WORKFLOWS


@pytest.fixture
def clock() -> Clock:
    return SystemClock()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Where Baton keeps its state: a SQLite file, or a fresh, migrated PostgreSQL database (skipped without one)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'baton.db'}"
        return
    async with fresh_postgres() as url:
        await migrate(url)
        yield url


@pytest.fixture
async def baton(
    tmp_path: Path, slack: SlackEmulator, workflows_dir: Path, clock: Clock, database_url: str
) -> AsyncIterator[Baton]:
    app = Baton(baton_settings(tmp_path, slack, workflows_dir=workflows_dir, database_url=database_url), clock=clock)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def driver(baton: Baton, slack: SlackEmulator) -> AsyncIterator[SlackDriver]:
    port = await baton.serve("127.0.0.1", 0)
    async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack) as client:
        yield client
