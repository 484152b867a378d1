"""Workflow Builder steps (Slack custom steps): `function_executed` events, answered once the request is stored."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.service import WorkflowService
from bot.step_outputs import REQUEST_APPROVAL, START_WORKFLOW
from bot.store import StepExecution

from .parsing import execution_of

__all__ = ["register_step_listeners"]

log = logging.getLogger(__name__)


def register_step_listeners(app: AsyncApp, service: WorkflowService) -> None:
    """Baton's steps in manifest.yml; any other callback_id is completed with an error, never left waiting."""

    async def executed(ack: AsyncAck, event: dict[str, Any]) -> None:
        execution_id, callback_id, workflow_execution, inputs = execution_of(event)
        if not execution_id:
            log.info("function_executed without a function_execution_id ignored")
            await ack()
            return
        execution = StepExecution(execution_id, callback_id, workflow_execution)
        begun = await service.steps.begin(execution, inputs)  # committed (request or completeError) before the ack
        if begun.repeated:
            log.info("function_executed for execution %s again: already handled", execution_id)
        await ack()

    for callback_id in (REQUEST_APPROVAL, START_WORKFLOW):
        app.function(callback_id)(executed)
    app.function(re.compile(".*"))(executed)  # a step removed from the manifest, or renamed: a clear error
