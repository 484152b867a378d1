"""Socket Mode with a graceful stop: stop taking envelopes, let those in flight finish and be acknowledged, close."""

from __future__ import annotations

import asyncio

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

__all__ = ["DrainingSocketModeHandler"]


class DrainingSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler that knows its envelopes in flight, so a stop can wait for them while the
    connection is still open for their acknowledgements."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._in_flight: set[asyncio.Task[object]] = set()
        self._accepting = True

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        if not self._accepting:
            return  # left unacknowledged: Slack sends it again, to the next connection
        running = asyncio.current_task()
        if running is not None:
            self._in_flight.add(running)
        try:
            await super().handle(client, req)  # type: ignore[arg-type]  # it is Bolt's aiohttp client
        finally:
            if running is not None:
                self._in_flight.discard(running)

    async def drain(self, *, timeout: float) -> bool:
        """Take no new envelopes; wait up to `timeout` for those in flight. True if all of them finished."""
        self._accepting = False
        if not self._in_flight:
            return True
        _done, pending = await asyncio.wait(set(self._in_flight), timeout=timeout)
        return not pending
