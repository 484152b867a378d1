"""How long does the retention purge take on a year of history, and do the year's report figures survive it?

Run: `.venv/bin/python bench/retention.py [--events 300000] [--workflows 50] [--days 180] [--runs 3]`

1. Generate a year of history with bench/report.py's generator (about 6 events a request, two tasks each, 85% of
   requests finished) into a SQLite file made by the real `SQLiteStore`, once.
2. Each run, on a fresh copy of that file: time the year's report over every workflow (`build_report`), purge
   everything finished more than `--days` before the end of the year with the real `RetentionSweep` (batches of
   100, one transaction each; the longest batch is how long a purge keeps clicks waiting), then time the report
   again and compare its counts with the first one.

Timings are printed as min / median / max over the runs, never asserted. The script exits 1 if a count differs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import NOW, create_store, fill, generate  # noqa: E402  (bench/ is the script's directory)

from bot.engine import OrgChart, OrgDirectory  # noqa: E402
from bot.engine.kpis import KpiReport, Period  # noqa: E402
from bot.reporting.kpi_report import build_report  # noqa: E402
from bot.retention import RetentionSweep  # noqa: E402
from bot.store import SQLiteStore, Store  # noqa: E402


class FixedClock:
    def now(self) -> datetime:
        return NOW


class TimedStore:
    """The store, timing each of its transactions (the longest is how long the purge holds the writer)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.longest = 0.0

    def transaction(self, *, read_only: bool = False):  # type: ignore[no-untyped-def]
        store = self

        class Timed:
            async def __aenter__(self):  # type: ignore[no-untyped-def]
                self._context = store._store.transaction(read_only=read_only)
                self._began = time.perf_counter()
                return await self._context.__aenter__()

            async def __aexit__(self, *exc: object) -> None:
                await self._context.__aexit__(*exc)  # type: ignore[arg-type]
                store.longest = max(store.longest, time.perf_counter() - self._began)

        return Timed()


def counts(report: KpiReport) -> tuple[int, ...]:
    total = report.total
    return (total.started, total.completed, total.rejected, total.cancelled, total.cycle_time.count, total.tasks,
            total.overdue, total.reminders, total.escalations, total.delivery_failures, total.timeouts)  # fmt: skip


async def one_run(path: Path, days: int) -> tuple[float, float, float, float, int, bool]:
    store = SQLiteStore(path)
    await store.open()
    directory = OrgDirectory(OrgChart())
    year = Period(datetime(NOW.year, 1, 1, tzinfo=NOW.tzinfo), datetime(NOW.year + 1, 1, 1, tzinfo=NOW.tzinfo), "y")
    try:
        began = time.perf_counter()
        before = await build_report(store, year, now=year.end, workflows=None, directory=directory)
        report_before = time.perf_counter() - began
        timed = TimedStore(store)
        began = time.perf_counter()
        purged = await RetentionSweep(timed, FixedClock(), days=days).purge_expired(max_batches=None)  # type: ignore[arg-type]
        purge_seconds = time.perf_counter() - began
        began = time.perf_counter()
        after = await build_report(store, year, now=year.end, workflows=None, directory=directory)
        report_after = time.perf_counter() - began
    finally:
        await store.close()
    return purge_seconds, timed.longest, report_before, report_after, purged.requests, counts(before) == counts(after)


def spread(values: list[float], unit: str = "s") -> str:
    return " / ".join(f"{value:.3f}{unit}" for value in (min(values), statistics.median(values), max(values)))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        original = Path(folder) / "year.db"
        history = generate(args.workflows, args.events)
        await create_store(original)
        fill(original, history, args.workflows)
        print(f"{len(history.instances)} requests, {len(history.events)} events; purging what finished more than "
              f"{args.days} days before {NOW:%Y-%m-%d}")  # fmt: skip
        results = []
        for run in range(args.runs):
            copy = Path(folder) / f"run{run}.db"
            shutil.copy(original, copy)
            results.append(await one_run(copy, args.days))
            copy.unlink()
    purged = {result[4] for result in results}
    print(f"purged {sorted(purged)} requests; min / median / max of {args.runs} runs:")
    print(f"  whole purge:                 {spread([r[0] for r in results])}")
    print(f"  requests purged per second:  {spread([r[4] / r[0] for r in results], '')}")
    print(f"  longest batch (one transaction of 100): {spread([r[1] * 1000 for r in results], ' ms')}")
    print(f"  year report, all workflows, before: {spread([r[2] for r in results])}")
    print(f"  year report, all workflows, after:  {spread([r[3] for r in results])}")
    same = all(result[5] for result in results)
    print("  the year's counts (started, outcomes, tasks, overdue, reminders, escalations, errors): "
          + ("the same before and after" if same else "DIFFER"))  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
