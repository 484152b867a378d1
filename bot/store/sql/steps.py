"""Workflow Builder steps Baton is running: which Slack execution each request answers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from bot.store.records import StepExecution
from bot.store.rows import epoch

from .part import SQLPart

__all__ = ["SQLFunctionExecutions"]


class SQLFunctionExecutions(SQLPart):
    """One row per function_execution_id Slack sent; its completion is queued once, in the outbox."""

    async def claim_function_execution(self, execution: StepExecution, instance_id: int | None, now: datetime) -> bool:
        inserted = await self._db.changed(
            "INSERT INTO function_executions (execution_id, callback_id, workflow_execution_id, instance_id, "
            "received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (execution_id) DO NOTHING",
            (execution.execution_id, execution.callback_id, execution.workflow_execution_id, instance_id, epoch(now)),
        )
        return inserted == 1

    async def function_executions_of(self, instance_ids: Collection[int]) -> dict[int, StepExecution]:
        rows = await self._all_among(
            "SELECT instance_id, execution_id, callback_id, workflow_execution_id FROM function_executions "
            "WHERE completing_at IS NULL AND {among}",
            "instance_id",
            sorted(set(instance_ids)),
            "bigint",
        )
        return {row[0]: StepExecution(str(row[1]), str(row[2]), row[3]) for row in rows}

    async def mark_function_completing(self, execution_id: str, now: datetime) -> None:
        await self._db.write(
            "UPDATE function_executions SET completing_at = ? WHERE execution_id = ?", (epoch(now), execution_id)
        )
