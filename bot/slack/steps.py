"""Workflow Builder steps (Slack custom steps): `function_executed` events, answered once the request is stored."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.service import WorkflowService
from bot.store import StepExecution

from .parsing import execution_of

__all__ = ["WorkflowBuilderSteps"]

log = logging.getLogger(__name__)


class WorkflowBuilderSteps:
    """Baton's steps in manifest.yml; any other callback_id is completed with an error, never left waiting."""

    def __init__(self, service: WorkflowService) -> None:
        self._service = service

    async def executed(self, ack: AsyncAck, event: dict[str, Any]) -> None:
        execution_id, callback_id, workflow_execution, inputs = execution_of(event)
        if not execution_id:
            log.info("function_executed without a function_execution_id ignored")
            await ack()
            return
        execution = StepExecution(execution_id, callback_id, workflow_execution)
        begun = await self._service.steps.begin(execution, inputs)  # the request or completeError, committed
        if begun.repeated:
            log.info("function_executed for execution %s again: already handled", execution_id)
        await ack()
