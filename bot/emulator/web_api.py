"""Local, stateful Slack Web API emulator served over real HTTP: the fake Slack for tests and the sandbox."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias, TypeVar

from bot.emulator.arguments import Handler, SlackApiFailure
from bot.emulator.blocks import find_action, validate_blocks, validate_view
from bot.emulator.faults import (
    RATE_LIMIT_WINDOW_SECONDS,
    Delay,
    Drop,
    Fault,
    FaultInjector,
    HttpError,
    RateLimited,
    SlackError,
)
from bot.emulator.methods import UNLISTED_TIERS, method_table
from bot.emulator.methods.functions import FunctionExecution, FunctionMethods
from bot.emulator.methods.views import ViewMethods
from bot.emulator.records import RecordedCall, ResponseUrlPost
from bot.emulator.reference import DEFAULT_REFERENCE_DIR, MethodSpec, SlackReference
from bot.emulator.response_urls import ResponseUrls
from bot.emulator.server import WebApiServer
from bot.emulator.workspace import (
    TRIGGER_TTL_SECONDS,
    Channel,
    Ephemeral,
    Message,
    MessageVersion,
    UploadedFile,
    User,
    Usergroup,
    Workspace,
)

__all__ = [
    "DEFAULT_REFERENCE_DIR",
    "Channel",
    "Delay",
    "Drop",
    "Ephemeral",
    "Fault",
    "HttpError",
    "Message",
    "MessageVersion",
    "MethodSpec",
    "RateLimited",
    "RecordedCall",
    "ResponseUrlPost",
    "SlackApiFailure",
    "SlackEmulator",
    "SlackError",
    "SlackReference",
    "UploadedFile",
    "User",
    "Usergroup",
    "find_action",
    "validate_blocks",
    "validate_view",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

Listener: TypeAlias = Callable[[RecordedCall], Awaitable[None]]


class SlackEmulator(Workspace):
    """A fake Slack workspace answering the Web API over HTTP, with recorded calls and injectable faults."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        reference_dir: Path | None = None,
        team_id: str = "T0BATON",
        bot_user_id: str = "UBATONBOT",
        bot_id: str = "B0BATONBOT",
        app_id: str = "A0BATON",
        team_name: str = "Baton Sandbox",
        team_domain: str = "baton-sandbox",
        bot_name: str = "baton",
        trigger_ttl: float = TRIGGER_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        super().__init__(
            team_id=team_id,
            team_name=team_name,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            bot_name=bot_name,
            trigger_ttl=trigger_ttl,
            clock=clock,
            seed=seed,
        )
        self.bot_token = bot_token
        self.bot_token_refused = ""  # the error every call with the bot token gets ("": the token is good)
        self.reference_dir = reference_dir if reference_dir is not None else DEFAULT_REFERENCE_DIR
        self.reference: SlackReference | None
        self.reference_problem: str | None = None
        try:
            self.reference = SlackReference.load(self.reference_dir)
        except (OSError, ValueError) as exc:
            self.reference = None
            self.reference_problem = f"Slack API reference not loaded from {self.reference_dir}: {exc}"
            log.warning("%s; running without argument validation", self.reference_problem)

        self.calls: list[RecordedCall] = []
        self._response_urls = ResponseUrls(self, lambda: self.base_url)
        self.response_url_posts: list[ResponseUrlPost] = self._response_urls.posts
        self._faults = FaultInjector(clock)
        self._listeners: list[Listener] = []
        self._views = ViewMethods(self)
        self._functions = FunctionMethods(self)
        self._handlers: dict[str, Handler] = method_table(
            self, self._views, self._functions, base_url=lambda: self.base_url
        )
        self._server = WebApiServer(
            self,
            bot_token=bot_token,
            reference=self.reference,
            handlers=self._handlers,
            faults=self._faults,
            response_urls=self._response_urls,
            record=self._record,
            token_problem=self._functions.token_problem,
            bot_token_refusal=lambda: self.bot_token_refused,
        )

    # --- lifecycle

    def revoke_bot_token(self, error: str = "token_revoked") -> None:
        """A workspace admin revoked Baton's token or uninstalled the app: every call with it now fails so."""
        self.bot_token_refused = error

    def restore_bot_token(self) -> None:
        """The app is reinstalled (or the token restored): calls with the bot token work again."""
        self.bot_token_refused = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the emulator on ``host:port`` (port 0 picks a free one)."""
        await self._server.start(host, port)

    async def stop(self) -> None:
        """Stop serving; state and recordings are kept."""
        await self._server.stop()

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port/`` of the running emulator."""
        return self._server.base_url

    @property
    def api_url(self) -> str:
        """Web API base URL for ``AsyncWebClient(base_url=...)``; ends with a slash."""
        return f"{self.base_url}api/"

    @property
    def reference_available(self) -> bool:
        """Whether Slack's method reference was found (arguments are validated only then)."""
        return self.reference is not None

    def tier_of(self, method: str) -> str | None:
        """Rate-limit tier of ``method`` per the reference (``"t1"``..``"t5"``), or None when unknown."""
        listed = self.reference.tier_of(method) if self.reference is not None else None
        return listed or UNLISTED_TIERS.get(method)

    @property
    def supported_methods(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    # --- interactions

    def issue_response_url(
        self, *, user_id: str, channel_id: str | None = None, message_ts: str | None = None, ephemeral: bool = False
    ) -> str:
        """Mint a ``response_url`` on this emulator, tied to the interaction's channel/message/user."""
        return self._response_urls.issue(
            user_id=user_id, channel_id=channel_id, message_ts=message_ts, ephemeral=ephemeral
        )

    def apply_view_submission_response(self, user_id: str, view_id: str, response: Mapping[str, Any] | None) -> str:
        """Apply the app's answer to a ``view_submission`` as Slack would; returns what happened."""
        return self._views.apply_submission_response(user_id, view_id, response)

    # --- Workflow Builder steps

    def define_functions(self, functions: Mapping[str, Mapping[str, Any]]) -> None:
        """Learn the app's custom steps as its manifest declares them (manifest.yml `functions:`)."""
        self._functions.define(functions)

    def execute_function(self, callback_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """A workflow reaches one of the app's steps: the execution starts; returns its function_executed event."""
        return self._functions.execute(callback_id, inputs)

    def function_execution(self, execution_id: str) -> FunctionExecution:
        """An execution as Slack keeps it: running, completed (with outputs) or failed (with the error)."""
        return self._functions.executions[execution_id]

    # --- faults

    def inject(self, method_or_star: str, fault: Fault, times: int | None = 1, *, channel: str | None = None) -> None:
        """Answer the next ``times`` calls of a method (``"*"``: any) with ``fault`` (``None``: always); with
        ``channel``, only calls whose ``channel`` argument is that (a user ID for a DM opened by user ID)."""
        self._faults.inject(method_or_star, fault, times, channel=channel)

    def clear_faults(self) -> None:
        """Remove injected faults, chaos mode and rate limiting."""
        self._faults.clear()

    def random_failures(
        self, rate: float, seed: int, faults: Sequence[Fault], *, methods: Iterable[str] | None = None
    ) -> None:
        """Chaos mode: each call (of ``methods``, default all) fails with probability ``rate``; 0: off."""
        self._faults.random_failures(rate, seed, faults, methods=methods)

    def enforce_rate_limits(
        self, per_minute: Mapping[str, int] | None = None, *, window: float = RATE_LIMIT_WINDOW_SECONDS
    ) -> None:
        """Answer 429 once a method exceeds its tier's calls per window (chat.postMessage: per channel).

        ``per_minute`` overrides limits by method name or by tier (``"t3"``).
        """
        self._faults.enforce_rate_limits(per_minute, window=window)

    # --- recordings

    def on_call(self, callback: Listener) -> Callable[[], None]:
        """Call ``await callback(call)`` after every recorded call; returns a function that unsubscribes."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    async def _record(self, call: RecordedCall) -> None:
        self.calls.append(call)
        for listener in list(self._listeners):
            try:
                await listener(call)
            except Exception:
                log.exception("emulator listener failed for %s", call.method)

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def clear_calls(self) -> None:
        self.calls.clear()
        self.response_url_posts.clear()

    def snapshot(self) -> dict[str, Any]:
        """JSON-able picture of the workspace, e.g. for a sandbox page."""
        return super().snapshot() | {"calls": len(self.calls)}

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, *, what: str | None = None) -> T:
        """Poll ``predicate`` every 20 ms until it returns something truthy, and return that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if loop.time() >= deadline:
                recent = "\n  ".join(call.summary() for call in self.calls[-15:]) or "(none)"
                label = what or getattr(predicate, "__name__", "condition")
                raise TimeoutError(
                    f"{label} not met within {timeout:.2f}s; {len(self.calls)} calls so far, most recent:\n  {recent}"
                )
            await asyncio.sleep(0.02)
