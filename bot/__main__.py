"""Command line: `python -m bot serve | socket | check | run | sandbox | migrate | migrate-data | export | backup |
purge | forget`, and `org import`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from bot.app import DRAIN_SECONDS, Baton
from bot.backup import backup
from bot.catalog import format_report, load_catalog
from bot.erasure import forget_command
from bot.logs import configure_logging
from bot.migrate import migrate, migrate_data
from bot.org_import import add_org_arguments, org_command
from bot.reporting.audit_export import add_export_arguments, export_command
from bot.retention import purge_command
from bot.sandbox import SANDBOX_DATABASE, Sandbox, ignored_settings
from bot.settings import Settings, SettingsError, load_settings
from bot.store import StoreError

__all__ = ["build_parser", "main"]

log = logging.getLogger("bot")

_SANDBOX_NOTICE = (
    "baton: no Slack credentials ({missing} not set), so starting the local sandbox at http://127.0.0.1:{port}/ "
    '(to connect a real Slack workspace, see README.md, "Install in Slack").'
)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per thing Baton does."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Baton, the Slack workflow bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve Slack's HTTP requests on /slack/events")
    commands.add_parser("socket", help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    commands.add_parser("check", help="validate every workflow file and report")
    commands.add_parser("run", help="serve when Slack credentials are set; otherwise start the local sandbox")
    commands.add_parser("sandbox", help="try Baton in a browser against a local fake Slack (no credentials needed)")
    commands.add_parser("migrate", help="bring the schema of the DATABASE_URL database up to date")
    copy = commands.add_parser("migrate-data", help="copy every row of a SQLite database into an empty PostgreSQL one")
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="sqlite:///path/to/baton.db")
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="postgresql://user@host/database")
    add_export_arguments(commands.add_parser("export", help="write the requests and the event log as CSV files"))
    saving = commands.add_parser("backup", help="copy the SQLite database, consistently, while Baton runs")
    saving.add_argument("file", type=Path, help="where the copy goes (replaced if it exists)")
    add_org_arguments(commands.add_parser("org", help="keep org.yaml up to date from the Slack workspace"))
    purging = commands.add_parser("purge", help="delete finished requests older than RETENTION_DAYS now")
    purging.add_argument("--older-than", type=int, metavar="DAYS", help="instead of RETENTION_DAYS")
    forgetting = commands.add_parser("forget", help="replace a person by a pseudonym everywhere Baton stores them")
    forgetting.add_argument("user", help="their Slack user id (U…), or their email in org.yaml")
    forgetting.add_argument("--name", help="their full name, when org.yaml no longer has them")
    forgetting.add_argument("--email", help="their email, when org.yaml no longer has them")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"baton: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    if args.command == "check":
        return _check(settings)
    if args.command == "export":
        return export_command(settings.database_url, workflow=args.workflow, since=args.since, out=args.out)
    if args.command == "backup":
        return _backup(settings.database_url, args.file)
    if args.command == "org":
        return org_command(settings, args)
    if args.command == "purge":
        return purge_command(settings, older_than=args.older_than)
    if args.command == "forget":
        return forget_command(settings, args.user, name=args.name, email=args.email)
    if args.command == "migrate":
        return _run(_migrate(settings.database_url))
    if args.command == "migrate-data":
        return _run(_migrate_data(args.source, args.target))
    if args.command == "socket":
        return _run(_socket(settings))
    if args.command == "sandbox":
        return _run(_sandbox(settings))
    if args.command == "run" and not settings.has_slack_credentials:
        print(_SANDBOX_NOTICE.format(missing=", ".join(settings.missing_for_http()), port=settings.port), flush=True)
        return _run(_sandbox(settings))
    missing = settings.missing_for_http()
    if missing:
        print(f"baton: missing setting(s) {', '.join(missing)}; see .env.example", file=sys.stderr)
        return 2
    return _run(_serve(settings))


def _backup(database_url: str, target: Path) -> int:
    try:
        made = backup(database_url, target)
    except StoreError as error:
        print(f"baton: {error}", file=sys.stderr)
        return 2
    print(made.summary())
    return 0


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format, settings.secrets)


def _check(settings: Settings) -> int:
    catalog = load_catalog(settings.workflows_dir)
    print(format_report(catalog))
    return 1 if catalog.errors else 0


def _run(main_coroutine: Coroutine[Any, Any, None | bool]) -> int:
    """Run a command; exit 0 when it ended well, 1 when a stop had to cut work short, 3 for a store problem."""
    try:
        ended_well = asyncio.run(main_coroutine)
    except StoreError as error:
        print(f"baton: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        pass
    else:
        if ended_well is False:
            print(
                "baton: stopped, but some work was cut short (see the log); nothing committed was lost", file=sys.stderr
            )
            return 1
    return 0


async def _migrate(url: str) -> None:
    print(await migrate(url), flush=True)


async def _migrate_data(source: str, target: str) -> None:
    copied = await migrate_data(source, target, report=lambda line: print(line, flush=True))
    rows = sum(table.rows for table in copied)
    print(f"copied {rows} rows in {len(copied)} tables; counts and checksums match", flush=True)


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, caught from now on: installed before start-up, so a signal that comes
    while Baton starts (or just as it says it is ready) stops it right after, instead of being lost between
    asyncio.run's own Ctrl-C handler and ours."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _serve(settings: Settings) -> bool:
    """Serve until SIGTERM or SIGINT, then stop gracefully; True if the stop finished everything in time."""
    signalled = _stop_on_signals()
    baton = Baton(settings)
    await baton.start()
    try:
        await baton.serve(settings.host, settings.port)
        await signalled.wait()
        log.info("stopping: no new requests; finishing those in flight")
    finally:
        clean = await baton.stop()
    log.info("stopped%s", "" if clean else " (some work was cut short)")
    return clean


async def _sandbox(settings: Settings) -> None:
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # its every-5-seconds lines drown the URL
    signalled = _stop_on_signals()
    ignored = ignored_settings(settings)
    if ignored:
        print(
            f"baton: the sandbox ignores {', '.join(ignored)}: it keeps its state in {SANDBOX_DATABASE} (emptied at "
            "every start), talks only to its own fake Slack with made-up credentials, and its start API is off.",
            flush=True,
        )
    sandbox = Sandbox(settings)
    try:
        await sandbox.start("127.0.0.1", settings.port)
    except OSError as error:
        raise SystemExit(
            f"baton: cannot listen on 127.0.0.1:{settings.port} ({error.strerror or error}); set PORT to a free port"
        ) from None
    try:
        print(f"\n    Baton sandbox: open {sandbox.url} in your browser (Ctrl-C stops it)\n", flush=True)
        await signalled.wait()
        log.info("stopping")
    finally:
        await sandbox.stop()


async def _socket(settings: Settings) -> bool:
    """Serve over Socket Mode until SIGTERM or SIGINT; on stop take no new envelopes, let those in flight finish
    (bounded) while the connection still carries their acknowledgements, close it, then stop Baton."""
    from bot.slack.socket_mode import DrainingSocketModeHandler

    if settings.slack_app_token is None or settings.slack_bot_token is None:
        raise SystemExit("baton: Socket Mode needs SLACK_APP_TOKEN (xapp-…) and SLACK_BOT_TOKEN")
    signalled = _stop_on_signals()
    baton = Baton(settings)
    await baton.start()
    handler = DrainingSocketModeHandler(baton.bolt, settings.slack_app_token.get_secret_value())
    drained = False
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await signalled.wait()
        log.info("stopping: no new envelopes; finishing those in flight")
        drained = await handler.drain(timeout=DRAIN_SECONDS)
        if not drained:
            log.warning("stopping: Socket Mode requests still in flight after %gs", DRAIN_SECONDS)
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        clean = await baton.stop()
    log.info("stopped%s", "" if clean and drained else " (some work was cut short)")
    return clean and drained

if __name__ == "__main__":
    sys.exit(main())
