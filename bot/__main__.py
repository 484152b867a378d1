"""Command line: `python -m bot serve | socket | check | run`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from bot.app import Baton
from bot.catalog import format_report, load_catalog
from bot.settings import Settings, SettingsError, load_settings
from bot.store import StoreError

__all__ = ["main"]

log = logging.getLogger("bot")

_LOCAL_HELP = """\
Baton needs Slack credentials to talk to a real workspace; missing: {missing}.

To connect a workspace:
  1. Create the app from manifest.yml at https://api.slack.com/apps (see README.md, "Install in Slack").
  2. Put SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in .env (copy .env.example).
  3. Run `make run` again.

Meanwhile, check your workflow files with `python -m bot check`."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Baton, the Slack workflow bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve Slack's HTTP requests on /slack/events")
    commands.add_parser("socket", help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    commands.add_parser("check", help="validate every workflow file and report")
    commands.add_parser("run", help="serve when Slack credentials are set; otherwise explain what is missing")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"baton: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    if args.command == "check":
        return _check(settings)
    if args.command == "socket":
        return _run(_socket(settings))
    if args.command == "run" and not settings.has_slack_credentials:
        print(_LOCAL_HELP.format(missing=", ".join(settings.missing_for_http())), file=sys.stderr)
        return _check(settings) or 0
    missing = settings.missing_for_http()
    if missing:
        print(f"baton: missing setting(s) {', '.join(missing)}; see .env.example", file=sys.stderr)
        return 2
    return _run(_serve(settings))


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _check(settings: Settings) -> int:
    catalog = load_catalog(settings.workflows_dir)
    print(format_report(catalog))
    return 1 if catalog.errors else 0


def _run(main_coroutine: Coroutine[Any, Any, None]) -> int:
    try:
        asyncio.run(main_coroutine)
    except StoreError as error:
        print(f"baton: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        pass
    return 0


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def _serve(settings: Settings) -> None:
    baton = Baton(settings)
    await baton.start()
    try:
        await baton.serve(settings.host, settings.port)
        await _until_signalled()
        log.info("stopping")
    finally:
        await baton.stop()


async def _socket(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    if settings.slack_app_token is None or settings.slack_bot_token is None:
        raise SystemExit("baton: Socket Mode needs SLACK_APP_TOKEN (xapp-…) and SLACK_BOT_TOKEN")
    baton = Baton(settings)
    await baton.start()
    handler = AsyncSocketModeHandler(baton.bolt, settings.slack_app_token.get_secret_value())
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await _until_signalled()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await baton.stop()


if __name__ == "__main__":
    sys.exit(main())
