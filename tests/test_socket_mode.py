"""Socket Mode: envelopes over a real WebSocket, and a stop that lets the one in flight finish and be acknowledged."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator, find_action
from bot.emulator.driver import NO_RESPONSE_URL
from bot.emulator.payloads import block_actions
from bot.slack.socket_mode import DrainingSocketModeHandler

from .conftest import SIGNING_SECRET, baton_settings
from .story import start_expense, task_message

ALICE, MARIA = "U0ALICE", "U0MARIA"


class SocketModeEndpoint:
    """Slack's side of Socket Mode: apps.connections.open, then a WebSocket that sends envelopes and keeps acks."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/apps.connections.open", self._open)
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def send(self, envelope: dict[str, Any]) -> None:
        assert self._socket is not None
        await self._socket.send_str(json.dumps(envelope))

    async def _open(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"})

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.connected.set()
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return socket


@pytest.fixture
async def endpoint() -> AsyncIterator[SocketModeEndpoint]:
    served = SocketModeEndpoint()
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


async def test_a_stop_waits_for_the_envelope_in_flight_and_acknowledges_it_before_closing(
    tmp_path: Path, slack: SlackEmulator, endpoint: SocketModeEndpoint
) -> None:
    # Maria's approval arrives over the socket while another writer holds the database: Baton may acknowledge
    # it only once it is committed. SIGTERM comes meanwhile; the stop must wait for it (with the socket open for
    # its acknowledgement), and an envelope arriving after the stop began is left for Slack to send again.
    baton = Baton(baton_settings(tmp_path, slack))
    await baton.start()
    port = await baton.serve("127.0.0.1", 0)
    opener = AsyncWebClient(token="xapp-1-test", base_url=f"http://127.0.0.1:{endpoint.port}/api/")
    handler = DrainingSocketModeHandler(baton.bolt, "xapp-1-test", web_client=opener)
    try:
        async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack) as driver:
            await start_expense(driver, slack, ALICE, 5, "Printer ink")
            approval = await task_message(slack, MARIA, "task_approve")
        found = find_action(approval.blocks, "task_approve")
        assert found is not None
        block_id, button = found
        click = block_actions(
            user_id=MARIA, action_id="task_approve", value=button.get("value"), block_id=block_id,
            trigger_id=slack.issue_trigger_id(MARIA), channel_id=approval.channel, message_ts=approval.ts,
            message=approval.to_slack(), response_url=NO_RESPONSE_URL,
        )
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await asyncio.wait_for(endpoint.connected.wait(), 5)
        other_writer = sqlite3.connect(tmp_path / "baton.db", isolation_level=None)
        other_writer.execute("BEGIN IMMEDIATE")
        try:
            await endpoint.send({"type": "interactive", "envelope_id": "E1", "payload": click})
            await asyncio.sleep(0.5)  # Baton is waiting for the database to commit the decision
            stopping = asyncio.create_task(handler.drain(timeout=5))
            await endpoint.send({"type": "interactive", "envelope_id": "E2", "payload": click})
            await asyncio.sleep(0.3)
            assert endpoint.acks == [] and not stopping.done()
        finally:
            other_writer.execute("COMMIT")
            other_writer.close()
        assert await stopping
        await asyncio.sleep(0.1)  # the acknowledgement's way over the socket
        assert [ack["envelope_id"] for ack in endpoint.acks] == ["E1"]  # answered while the socket was open
        async with baton.store.transaction() as work:
            kinds = [entry.kind for entry in await work.audit_trail(1)]
        assert kinds.count("task_approved") == 1
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        assert await baton.stop()
