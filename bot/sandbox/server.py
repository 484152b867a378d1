"""One process for trying Baton: the Slack emulator, Baton itself, and a page that plays Slack for each person."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import mimetypes
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot.app import Baton
from bot.catalog import load_catalog
from bot.clock import OffsetClock
from bot.emulator import Ephemeral, Message, RecordedCall, Response, SlackApiFailure, SlackDriver, SlackEmulator
from bot.emulator.payloads import action_from_element, slash_command
from bot.settings import Settings
from bot.webhooks import WebhookOutcome

from .maps import map_handler
from .watcher import FileWatcher
from .workspace import element_in, next_working_morning, seed_people, view_state, zone

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
SECRET_HEADER: Final = "X-Sandbox-Secret"
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
TIME_STEPS: Final = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
FORM: Final = "application/x-www-form-urlencoded"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(ValueError):
    """The page asked for something that does not exist or is malformed."""


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

    def __init__(
        self, settings: Settings, *, watch_interval: float = 1.0, database: Path = SANDBOX_DATABASE
    ) -> None:
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
        application.middlewares.append(self._only_from_the_page)
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

    @web.middleware
    async def _only_from_the_page(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer only requests to this sandbox's own address, and its JSON API only from its own page.

        A web page in the same browser must not drive the sandbox: the Host check stops DNS rebinding (a page
        whose own name points at 127.0.0.1), the Origin and JSON checks stop cross-origin posts (which a browser
        sends without asking, e.g. as text/plain), and the per-start secret, in the page's HTML and sent back in
        a header, is something only the page served here knows."""
        refusal = self._refusal(request)
        if refusal is None:
            return await handler(request)
        log.warning("sandbox refused %s %r: %s", request.method, request.path[:100], refusal)
        return web.json_response({"ok": False, "error": refusal}, status=403)

    def _refusal(self, request: web.Request) -> str | None:
        port = self.url.rstrip("/").rsplit(":", 1)[-1]
        own = {f"127.0.0.1:{port}", f"localhost:{port}"}
        host = request.headers.get("Host", "")
        if host not in own:
            return f"the sandbox answers only at {self.url}"
        if not request.path.startswith("/sandbox/api/"):
            return None
        origin = request.headers.get("Origin")
        if (origin is not None or request.method != "GET") and origin != f"http://{host}":
            return "the sandbox's API answers only its own page"
        if request.method != "GET" and request.content_type != "application/json":
            return "send JSON"
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return f"the sandbox's API wants the secret of its page in {SECRET_HEADER} (reload the page)"
        return None

    def _add_routes(self, application: web.Application) -> None:
        router = application.router
        router.add_get("/", self._index)
        router.add_static("/sandbox/static/", STATIC_DIR)
        router.add_get("/sandbox/files/{file_id}", self._file)
        router.add_get("/sandbox/api/state", _api(self._state))
        router.add_get("/sandbox/api/changes", _api(self._changes))
        router.add_get("/sandbox/api/map", map_handler(lambda: self.baton))  # an SVG, not JSON
        for name, handler in (
            ("send", self._send),
            ("click", self._click),
            ("submit", self._submit),
            ("close", self._close),
            ("home", self._home),
            ("time", self._time),
        ):
            router.add_post(f"/sandbox/api/{name}", _api(handler, then=self._bump))

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
        since = _int(request.query.get("since"), -1)
        if self.version == since and not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), LONG_POLL_SECONDS)
        return {"version": self.version}

    async def _send(self, request: web.Request) -> dict[str, Any]:
        """The composer: a slash command when the text starts with `/`, otherwise a message."""
        body = await _body(request)
        user, channel, text = self._user(body), _text(body, "channel"), _text(body, "text").strip()
        if not text:
            raise BadRequest("nothing to send")
        if text.startswith("/"):
            return await self._slash_command(user, channel, text)
        response = await self.driver.send_message(user, channel, text)
        return _outcome(response)

    async def _slash_command(self, user: str, channel: str, text: str) -> dict[str, Any]:
        command, _, argument = text.partition(" ")
        response_url = self.emulator.issue_response_url(user_id=user, channel_id=channel)
        fields = slash_command(
            command=command,
            text=argument.strip(),
            user_id=user,
            channel_id=channel,
            trigger_id=self.driver.mint_trigger_id(user),
            response_url=response_url,
            user_name=self._user_name(user),
            channel_name=self._channel_name(channel),
            team_id=self.driver.team_id,
            team_domain=self.driver.team_domain,
            api_app_id=self.driver.api_app_id,
            token=self.driver.verification_token,
        )
        response = await self.driver.post_raw(urlencode(fields), FORM)
        if response.ok and response.body.strip():
            await self._show_reply(response_url, response.body)
        return _outcome(response)

    async def _show_reply(self, response_url: str, body: str) -> None:
        """Slack shows a command's immediate answer like a reply to its response_url: privately, by default."""
        try:
            reply = json.loads(body)
        except ValueError:
            reply = {"text": body}
        assert self._http is not None
        async with self._http.post(response_url, json=reply if isinstance(reply, dict) else {"text": body}) as answer:
            await answer.read()

    async def _click(self, request: web.Request) -> dict[str, Any]:
        """A person uses a button or select in a message, an ephemeral, the Home tab or a modal."""
        body = await _body(request)
        user, block_id, action_id = self._user(body), _text(body, "block_id"), _text(body, "action_id")
        picked = body.get("value")
        if body.get("view_id"):
            view = self.emulator.view(_text(body, "view_id"))
            if view is None:
                raise BadRequest("that view is no longer open")
            element = _element(view.get("blocks") or [], block_id, action_id)
            action = action_from_element(element, block_id=block_id, value=picked)
            response = await self.driver.click(
                user, action_id=action_id, block_id=block_id, view=view, action=action, value=picked
            )
            return _outcome(response)
        message = self._message(user, _text(body, "channel"), _text(body, "ts"))
        element = _element(message.blocks, block_id, action_id)
        action = action_from_element(element, block_id=block_id, value=picked)
        response = await self.driver.click(
            user, action_id=action_id, block_id=block_id, message=message, action=action, value=picked
        )
        return _outcome(response)

    async def _submit(self, request: web.Request) -> dict[str, Any]:
        """A person submits their top modal with what they typed and picked, keyed by block id."""
        body = await _body(request)
        user, view_id = self._user(body), _text(body, "view_id")
        view = self.emulator.view(view_id)
        if view is None:
            raise BadRequest("that view is no longer open")
        entered = body.get("values")
        state = view_state(view, entered if isinstance(entered, Mapping) else {})
        response = await self.driver.submit_view(user, view_id, state)
        outcome = _outcome(response)
        with contextlib.suppress(ValueError):
            outcome["answer"] = response.json()
        return outcome

    async def _close(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        response = await self.driver.close_view(self._user(body), _text(body, "view_id"))
        return _outcome(response) if response is not None else {"ok": True, "status": None}

    async def _home(self, request: web.Request) -> dict[str, Any]:
        """A person opens the app's Home tab; Baton answers by publishing it."""
        return _outcome(await self.driver.open_home(self._user(await _body(request))))

    async def _time(self, request: web.Request) -> dict[str, Any]:
        """Move the sandbox clock forward, then let Baton do whatever has become due."""
        body = await _body(request)
        by = _text(body, "by")
        now = self.clock.now()
        if by == "morning":
            person = self.emulator.user(self._user(body))
            step = next_working_morning(now, zone(person.tz if person else None)) - now
        elif by in TIME_STEPS:
            step = TIME_STEPS[by]
        else:
            raise BadRequest(f"cannot move time by {by!r}; use hour, day or morning")
        self.clock.advance(step)
        await self.baton.tick()
        return {"ok": True, "now": self.clock.now().isoformat(), "advanced_seconds": step.total_seconds()}

    # --- lookups

    def _user(self, body: Mapping[str, Any]) -> str:
        user_id = _text(body, "user")
        if self.emulator.user(user_id) is None:
            raise BadRequest(f"no such person {user_id!r}")
        return user_id

    def _user_name(self, user_id: str) -> str | None:
        user = self.emulator.user(user_id)
        return user.name if user is not None else None

    def _channel_name(self, channel_id: str) -> str | None:
        channel = self.emulator.channel(channel_id)
        if channel is None:
            raise BadRequest(f"no such channel {channel_id!r}")
        return "directmessage" if channel.is_im else channel.name

    def _message(self, user: str, channel: str, ts: str) -> Message | Ephemeral:
        message = self.emulator.message(channel, ts)
        if message is not None:
            return message
        for ephemeral in self.emulator.ephemerals(user):
            if ephemeral.channel == channel and ephemeral.message_ts == ts:
                return ephemeral
        raise BadRequest("that message is gone")


def _api(
    handler: Callable[[web.Request], Awaitable[dict[str, Any]]], *, then: Callable[[], None] | None = None
) -> Handler:
    """Answer JSON; a bad request is a 400 with the reason, a failure inside the emulator a 502.

    `then` runs after each request: not every action makes Baton call Slack (form errors, a closed modal).
    """

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            try:
                result = await handler(request)
            finally:
                if then is not None:
                    then()
        except (BadRequest, LookupError) as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)
        except (SlackApiFailure, aiohttp.ClientError, TimeoutError) as error:
            log.warning("sandbox request failed: %r", error)
            return web.json_response({"ok": False, "error": repr(error)}, status=502)
        return web.json_response(result, headers={"Cache-Control": "no-store"})

    return answer


def _outcome(response: Response) -> dict[str, Any]:
    return {"ok": response.ok, "status": response.status}


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise BadRequest("send a JSON object") from error
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object")
    return body


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is missing")
    return value


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _element(blocks: list[Any], block_id: str, action_id: str) -> dict[str, Any]:
    element = element_in(blocks, block_id, action_id)
    if element is None:
        raise BadRequest(f"no element {action_id!r} in block {block_id!r}")
    return element


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
