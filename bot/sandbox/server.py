"""One process for trying Baton: the Slack emulator, Baton itself, and a page that plays Slack for each person."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot.app import Baton
from bot.catalog import load_catalog
from bot.clock import OffsetClock
from bot.emulator import RecordedCall, SlackDriver, SlackEmulator
from bot.settings import Settings
from bot.webhooks import WebhookOutcome

from .guard import SECRET_HEADER, PageGuard
from .maps import map_handler
from .page import PageActions, api_handler, query_int
from .watcher import FileWatcher
from .workspace import seed_people

__all__ = [
    "SANDBOX_DATABASE",
    "SANDBOX_DATABASE_URL",
    "SECRET_HEADER",
    "STATIC_DIR",
    "Sandbox",
    "ignored_settings",
    "sandbox_settings",
]

log = logging.getLogger(__name__)

SANDBOX_DATABASE: Final = Path("data/sandbox.db")
SANDBOX_DATABASE_URL: Final = f"sqlite:///{SANDBOX_DATABASE}"
SECRET_PLACEHOLDER: Final = "{{sandbox_secret}}"
KEPT_WEBHOOKS: Final = 50
# Settings a real Baton uses that the sandbox never does: it makes up its own credentials and database.
_NOT_USED: Final = (
    ("database_url", "DATABASE_URL"),
    ("slack_bot_token", "SLACK_BOT_TOKEN"),
    ("slack_signing_secret", "SLACK_SIGNING_SECRET"),
    ("slack_app_token", "SLACK_APP_TOKEN"),
    ("slack_api_url", "SLACK_API_URL"),
    ("api_token", "API_TOKEN"),
    ("api_tokens", "API_TOKENS"),
    ("metrics_token", "METRICS_TOKEN"),
)
STATIC_DIR: Final = Path(__file__).parent / "static"
LONG_POLL_SECONDS: Final = 25.0


def sandbox_settings(
    base: Settings,
    *,
    slack_api_url: str,
    bot_token: str,
    signing_secret: str,
    admins: tuple[str, ...],
    database: Path = SANDBOX_DATABASE,
) -> Settings:
    """Baton's settings for the sandbox: the emulator as Slack, made-up credentials, a database of its own.

    Whatever `base` says about the database, Slack and the start API is never used: the sandbox must not
    touch a real database, call real Slack, or accept a real API token."""
    return base.model_copy(
        update={
            "slack_api_url": slack_api_url,
            "slack_bot_token": SecretStr(bot_token),
            "slack_signing_secret": SecretStr(signing_secret),
            "slack_app_token": None,
            "database_url": f"sqlite:///{database}",
            "auto_migrate": True,
            "api_token": None,
            "api_tokens": {},
            "metrics_token": None,
            "baton_admins": admins or base.baton_admins,
        }
    )


def ignored_settings(base: Settings) -> list[str]:
    """The settings given to Baton (environment or .env) that the sandbox ignores, by their variable names."""
    given = base.model_fields_set
    return [
        name
        for field, name in _NOT_USED
        if field in given and getattr(base, field) not in (None, Settings.model_fields[field].default)
    ]


class Sandbox:
    """Baton against a local fake Slack, with a browser page that acts as any person of org.yaml.

    The page reaches Baton only as Slack does: every command, click and submission becomes a signed
    request to Baton's own ``/slack/events``, and everything it shows is what Baton sent to the emulator.
    """

    def __init__(self, settings: Settings, *, watch_interval: float = 1.0, database: Path = SANDBOX_DATABASE) -> None:
        self.base_settings = settings
        self.database = database
        self.workflows_dir = settings.workflows_dir
        self.clock = OffsetClock()
        self._bot_token = f"xoxb-sandbox-{secrets.token_hex(12)}"
        self._signing_secret = secrets.token_hex(32)
        self.secret = secrets.token_urlsafe(32)  # the page carries it; the JSON API wants it back on every call
        self.webhooks: list[dict[str, Any]] = []  # what Baton would have delivered, shown on the page instead
        # The emulator keeps sandbox time too, so message times match the clock shown on the page.
        self.emulator = SlackEmulator(bot_token=self._bot_token, clock=lambda: self.clock.now().timestamp())
        self.watcher = FileWatcher(self.workflows_dir, self._reload, interval=watch_interval)
        self.errors: list[str] = []
        self.version = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._baton: Baton | None = None
        self._driver: SlackDriver | None = None
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.url = ""

    @property
    def baton(self) -> Baton:
        if self._baton is None:
            raise RuntimeError("sandbox not started")
        return self._baton

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("sandbox not started")
        return self._http

    @property
    def driver(self) -> SlackDriver:
        if self._driver is None:
            raise RuntimeError("sandbox not started")
        return self._driver

    # --- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start the emulator, Baton and the page on host:port; return the bound port."""
        try:
            return await self._start(host, port)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, host: str, port: int) -> int:
        catalog = load_catalog(self.workflows_dir)
        self.errors = [str(error) for error in catalog.errors]
        await self.emulator.start(host)
        people = seed_people(self.emulator, catalog.org)
        settings = sandbox_settings(
            self.base_settings,
            slack_api_url=self.emulator.api_url,
            bot_token=self._bot_token,
            signing_secret=self._signing_secret,
            admins=tuple(catalog.org.groups.get("admins", ())),
            database=self.database,
        )
        _remove_database(self.database)  # the emulator starts empty each time, so Baton does too
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        await self._open_direct_messages(people)
        self._baton = Baton(settings, clock=self.clock, catalog=catalog, deliver_webhook=self._keep_webhook)
        await self._baton.start()
        application = self._baton.web_app()
        application.middlewares.append(PageGuard(lambda: self.url, self.secret).middleware)
        self._add_routes(application)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = int(self._runner.addresses[0][1])
        self.url = f"http://{host}:{bound}/"
        self._driver = SlackDriver(f"{self.url}slack/events", self._signing_secret, self.emulator)
        self._unsubscribe = self.emulator.on_call(self._on_call)
        self.watcher.start()
        log.info("sandbox ready at %s (emulator at %s)", self.url, self.emulator.api_url)
        return bound

    async def stop(self) -> None:
        """Stop everything that was started, in reverse order."""
        self._closing = True
        self._bump()  # wake long polls so the server can shut down at once
        await self.watcher.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._driver is not None:
            await self._driver.aclose()
        if self._baton is not None:
            with contextlib.suppress(AttributeError):  # Baton.start failed half-way
                await self._baton.stop()
        if self._http is not None:
            await self._http.close()
        await self.emulator.stop()

    # --- changes

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def _on_call(self, _call: RecordedCall) -> None:
        self._bump()

    async def _keep_webhook(self, args: dict[str, Any], now: datetime) -> WebhookOutcome:
        """A webhook Baton would POST: kept for the page to show, never sent to its URL."""
        try:
            body = json.loads(str(args.get("body", "")))
        except ValueError:
            body = str(args.get("body", ""))
        url = str(args.get("url", ""))
        self.webhooks = [*self.webhooks, {"at": now.isoformat(), "url": url, "body": body}][-KEPT_WEBHOOKS:]
        log.info("sandbox: webhook to %r kept on the page, not sent", url[:200])
        self._bump()
        return WebhookOutcome(True)

    async def _reload(self) -> None:
        """The workflow files changed: load them again and let Baton use them."""
        catalog = load_catalog(self.workflows_dir)
        self.baton.service.use_catalog(catalog)
        self.errors = [str(error) for error in catalog.errors]
        await self._open_direct_messages(seed_people(self.emulator, catalog.org))
        log.info("workflows reloaded: %s; %d errors", ", ".join(catalog.names()) or "none", len(catalog.errors))
        self._bump()

    async def _open_direct_messages(self, people: list[str]) -> None:
        """Everyone has a DM with the app, as in a workspace where the app is installed."""
        assert self._http is not None
        headers = {"Authorization": f"Bearer {self._bot_token}"}
        for user_id in people:
            if self.emulator.dm_channel(user_id) is None:
                url = f"{self.emulator.api_url}conversations.open"
                async with self._http.post(url, data={"users": user_id}, headers=headers) as reply:
                    await reply.read()

    # --- HTTP

    def _add_routes(self, application: web.Application) -> None:
        router = application.router
        router.add_get("/", self._index)
        router.add_static("/sandbox/static/", STATIC_DIR)
        router.add_get("/sandbox/files/{file_id}", self._file)
        router.add_get("/sandbox/api/state", api_handler(self._state))
        router.add_get("/sandbox/api/changes", api_handler(self._changes))
        router.add_get("/sandbox/api/map", map_handler(lambda: self.baton))  # an SVG, not JSON
        page = PageActions(self)
        for name, handler in (
            ("send", page.send),
            ("click", page.click),
            ("submit", page.submit),
            ("close", page.close),
            ("home", page.home),
            ("time", page.move_time),
        ):
            router.add_post(f"/sandbox/api/{name}", api_handler(handler, then=self._bump))

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        page = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace(SECRET_PLACEHOLDER, self.secret)
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        upload = self.emulator.file(request.match_info["file_id"])
        if upload is None or upload.content is None:
            raise web.HTTPNotFound()
        content_type = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        return web.Response(body=upload.content, content_type=content_type)

    async def _state(self, _request: web.Request) -> dict[str, Any]:
        """Everything the page shows: the workspace as the emulator holds it, the clock and the file errors."""
        workspace = self.emulator.snapshot()
        view_errors = {
            view["id"]: self.emulator.view_errors(view["id"])
            for stack in workspace["open_views"].values()
            for view in stack
        }
        org = self.baton.service.catalog.org.people
        # Everyone ever seeded from org.yaml, so a broken org.yaml does not empty the person switcher.
        people = sorted(
            (
                {
                    "id": user.id,
                    "name": user.real_name,
                    "title": (org[user.id].title or "") if user.id in org else "",
                    "tz": user.tz,
                }
                for user in self.emulator.users
                if not user.is_bot and not user.deleted
            ),
            key=lambda entry: entry["name"],
        )
        return {
            "version": self.version,
            "now": self.clock.now().isoformat(),
            "offset_seconds": self.clock.offset.total_seconds(),
            "errors": self.errors,
            "people": people,
            "bot_user_id": self.emulator.bot_user_id,
            "workspace": workspace,
            "view_errors": view_errors,
            "webhooks": self.webhooks,
            "workflows": self._workflow_choices(),
        }

    def _workflow_choices(self) -> list[dict[str, str]]:
        """The workflows the page offers for its process map."""
        return [{"name": d.name, "title": d.title} for _, d in sorted(self.baton.service.catalog.workflows.items())]

    async def _changes(self, request: web.Request) -> dict[str, Any]:
        """Answer once the version passes `since` (or after a while): a long poll for the page."""
        since = query_int(request.query.get("since"), -1)
        if self.version == since and not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), LONG_POLL_SECONDS)
        return {"version": self.version}


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
