"""Audit export: requests and their event log as CSV files, for Slack (`/workflow export`) and the command line."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from bot.store import Store, StoreError, store_for
from bot.store.reporting import EventExport, InstanceExport

__all__ = [
    "EVENT_COLUMNS",
    "INSTANCE_COLUMNS",
    "AuditExport",
    "events_csv",
    "instances_csv",
    "add_export_arguments",
    "export_command",
    "export_to_directory",
    "load_export",
    "read_csv",
    "write_export",
]

INSTANCE_COLUMNS = (
    "id",
    "workflow",
    "definition_version",
    "title",
    "requester",
    "status",
    "created_at",
    "updated_at",
    "finished_at",
    "finished_by",
    "outcome_reason",
    "form",
    "satisfaction",
    "satisfaction_comment",
)
EVENT_COLUMNS = ("id", "instance_id", "workflow", "kind", "at", "actor", "task_id", "data")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


@dataclass(frozen=True)
class AuditExport:
    instances: list[InstanceExport]
    events: list[EventExport]


def _cell(value: Any) -> str:
    """One CSV cell: times in ISO 8601 UTC, dicts as JSON, and text that a spreadsheet would run kept inert."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, dict) else str(value)
    # A leading quote stops spreadsheets from treating `=HYPERLINK(...)` in a form value as a formula;
    # read_csv takes exactly one away again, so the file still round-trips.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def instances_csv(instances: Iterable[InstanceExport]) -> str:
    return _csv(
        INSTANCE_COLUMNS,
        (
            (
                i.id,
                i.workflow,
                i.definition_version,
                i.title,
                i.requester,
                i.status,
                i.created_at,
                i.updated_at,
                i.finished_at,
                i.finished_by,
                i.outcome_reason,
                i.form,
                i.satisfaction,
                i.satisfaction_comment,
            )
            for i in instances
        ),
    )


def events_csv(events: Iterable[EventExport]) -> str:
    return _csv(
        EVENT_COLUMNS, ((e.id, e.instance_id, e.workflow, e.kind, e.at, e.actor, e.task_id, e.data) for e in events)
    )


def read_csv(text: str) -> list[dict[str, str]]:
    """Parse an exported file back into rows of text, undoing the formula guard."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return [{key: value[1:] if value.startswith("'") else value for key, value in row.items()} for row in rows]


async def load_export(
    store: Store, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
) -> AuditExport:
    async with store.transaction(read_only=True) as work:
        instances = await work.export_instances(since, until, workflows=workflows)
        events = await work.export_events(since, until, workflows=workflows)
    return AuditExport(instances, events)


def write_export(export: AuditExport, directory: Path) -> tuple[Path, Path]:
    """Write instances.csv and events.csv into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    instances = directory / "instances.csv"
    events = directory / "events.csv"
    instances.write_text(instances_csv(export.instances), encoding="utf-8", newline="")
    events.write_text(events_csv(export.events), encoding="utf-8", newline="")
    return instances, events


async def export_to_directory(
    database_url: str, directory: Path, *, workflow: str | None, since: datetime | None, now: datetime
) -> tuple[int, int]:
    """The command line's export: open the store, read, write the two files; return the row counts."""
    store = store_for(database_url)
    await store.open()
    try:
        export = await load_export(
            store, since or datetime(1970, 1, 2, tzinfo=UTC), now, workflows=[workflow] if workflow else None
        )
    finally:
        await store.close()
    write_export(export, directory)
    return len(export.instances), len(export.events)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m bot export [--workflow W] [--since DATE] --out DIR`."""
    parser.add_argument("--workflow", metavar="NAME", help="only this workflow's requests and events")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="only from this day on (UTC); default: everything")
    parser.add_argument("--out", metavar="DIR", required=True, type=Path, help="where to write the two CSV files")


def export_command(database_url: str, *, workflow: str | None, since: str | None, out: Path) -> int:
    """Run the command line's export; print what was written; return the exit status."""
    start = None
    if since is not None:
        try:
            start = datetime.combine(date.fromisoformat(since), time(0), tzinfo=UTC)
        except ValueError:
            print(f"baton: --since {since!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    if database_url.startswith("sqlite:///") and not Path(database_url.removeprefix("sqlite:///")).exists():
        print(f"baton: there is no database at {database_url}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    try:
        counts = asyncio.run(export_to_directory(database_url, out, workflow=workflow, since=start, now=now))
    except StoreError as error:
        print(f"baton: {error}", file=sys.stderr)
        return 3
    print(f"wrote {out / 'instances.csv'} ({counts[0]} requests) and {out / 'events.csv'} ({counts[1]} events)")
    return 0
