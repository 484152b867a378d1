"""Reports, exports and metrics: read-only queries over the whole history (their SQL is in ../reporting.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.engine.kpis import KpiRows
from bot.engine.satisfaction import RatingRow
from bot.store import reporting

from .part import SQLPart

__all__ = ["SQLReports"]


class SQLReports(SQLPart):
    """What reports, CSV exports and /metrics read."""

    async def kpi_rows(self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None) -> KpiRows:
        return await reporting.kpi_rows(self._db.all, since, until, workflows=workflows)

    async def flow_rows(self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None) -> KpiRows:
        return await reporting.flow_rows(self._db.all, since, until, workflows=workflows)

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
