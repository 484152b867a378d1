"""The yardstick of bench/ack.py: a Bolt app whose one `task_approve` listener only acks, served like Baton's.

Run by bench/ack.py as a process of its own (`python bench/bare_bolt.py`), with SLACK_SIGNING_SECRET,
SLACK_BOT_TOKEN, SLACK_API_URL, HOST and PORT in its environment. It builds its `AsyncApp` with the options
Baton gives its own (a client of its own, `process_before_response=True`), serves it through aiohttp's
`AppRunner` with the same body limit and no access log, freezes start-up objects out of the GC as Baton does,
answers GET /healthz, and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings

APPROVE = "task_approve"


def bolt_app() -> AsyncApp:
    # The token rides on the client, as in Baton (passing token= as well makes Bolt log that it is unused).
    app = AsyncApp(
        client=AsyncWebClient(base_url=os.environ["SLACK_API_URL"], token=os.environ["SLACK_BOT_TOKEN"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=True,
    )

    @app.action(APPROVE)
    async def _approve(ack: AsyncAck) -> None:
        await ack()

    return app


async def serve() -> None:
    app = bolt_app()

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    application = web.Application(client_max_size=Settings.model_fields["http_max_body_bytes"].default)
    application.router.add_post("/slack/events", slack_events)
    application.router.add_get("/healthz", health)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])).start()
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
