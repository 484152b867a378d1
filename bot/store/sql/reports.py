"""Reports, exports and metrics: read-only queries over the whole history (their SQL is in ../reporting.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from bot.engine.kpi_facts import FinishedRequest, SpanGroup, TaskFact
from bot.engine.kpi_sums import KpiSums
from bot.engine.kpis import Period
from bot.engine.purged import PurgedTally
from bot.engine.satisfaction import RatingRow
from bot.store import report_facts, report_sums, reporting

from .part import SQLPart

__all__ = ["SQLReports"]


class SQLReports(SQLPart):
    """What reports, CSV exports and /metrics read."""

    async def chunk_facts(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> report_facts.ChunkFacts:
        return await report_facts.chunk_facts(self._db.all, since, until, workflows=workflows)

    async def open_task_facts(self, until: datetime, *, workflows: Sequence[str] | None = None) -> list[TaskFact]:
        return await report_facts.open_task_facts(self._db.all, until, workflows=workflows)

    async def flow_facts(
        self,
        since: datetime,
        until: datetime,
        *,
        workflows: Sequence[str] | None = None,
        rated_workflows: Collection[str] = (),
    ) -> list[FinishedRequest]:
        return await report_facts.flow_facts(
            self._db.all, since, until, workflows=workflows, rated_workflows=rated_workflows
        )

    async def span_facts(
        self,
        period_start: datetime,
        period_end: datetime,
        *,
        first: datetime,
        as_of: datetime,
        workflows: Sequence[str] | None = None,
    ) -> list[SpanGroup]:
        return await report_facts.span_facts(
            self._db.all, period_start, period_end, first=first, as_of=as_of, workflows=workflows
        )

    async def report_sums(
        self,
        period: Period,
        *,
        now: datetime,
        workflows: Sequence[str] | None = None,
        teams: Mapping[str, tuple[str, ...]] | None = None,
        rated_workflows: Collection[str] = (),
        flow: bool = True,
    ) -> KpiSums:
        return await report_sums.report_sums(
            self._db.all,
            period,
            now=now,
            workflows=workflows,
            teams=teams,
            rated_workflows=rated_workflows,
            flow=flow,
            joined=self._dialect.joined,
        )

    async def purged_tallies(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[PurgedTally]:
        return await reporting.purged_tallies(self._db.all, since, until, workflows=workflows)

    async def rating_rows(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[RatingRow]:
        return await reporting.rating_rows(self._db.all, since, until, workflows=workflows)

    async def export_instances(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[reporting.InstanceExport]:
        return await reporting.export_instances(self._db.all, since, until, workflows=workflows)

    async def export_events(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[reporting.EventExport]:
        return await reporting.export_events(self._db.all, since, until, workflows=workflows)

    async def ops_snapshot(self) -> reporting.OpsSnapshot:
        return await reporting.ops_snapshot(self._db.all)
