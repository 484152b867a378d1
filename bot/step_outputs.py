"""What a Workflow Builder step hands back to Slack when its request ends: outputs, or an error to show.

The completion is an outbox row queued in the transaction that finishes the request, sent with Baton's own bot
token: the `bot_access_token` of a `function_executed` event lives only minutes (and ends with the execution),
while a step may wait days for people to decide."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.engine import Event, Instance, InstanceStatus, StepKind
from bot.store import OutboxMessage, StepExecution, UnitOfWork

__all__ = [
    "COMPLETE_ERROR",
    "COMPLETE_SUCCESS",
    "REQUEST_APPROVAL",
    "START_WORKFLOW",
    "approval_outputs",
    "completion_failed",
    "step_completions",
    "workflow_outputs",
]

REQUEST_APPROVAL = "request_approval"
START_WORKFLOW = "start_workflow"
COMPLETE_SUCCESS = "functions.completeSuccess"
COMPLETE_ERROR = "functions.completeError"
_FINISH_EVENTS = {"instance_completed", "instance_rejected", "instance_cancelled", "instance_failed"}
_ERROR_LIMIT = 1000  # what Workflow Builder shows of a step's error is short; keep it readable


def completion_failed(execution: StepExecution, error: str, *, instance_id: int | None = None) -> OutboxMessage:
    """functions.completeError for an execution, with a message the workflow's people can act on."""
    return OutboxMessage(
        conversation=_conversation(execution),
        method=COMPLETE_ERROR,
        args={"function_execution_id": execution.execution_id, "error": error[:_ERROR_LIMIT]},
        instance_id=instance_id,
    )


async def step_completions(
    work: UnitOfWork, finished: Iterable[tuple[Instance, Iterable[Event]]]
) -> list[OutboxMessage]:
    """The completions that requests which just ended owe their Workflow Builder steps (marked as queued)."""
    ended = [
        instance
        for instance, events in finished
        if instance.status.is_finished and any(event.kind in _FINISH_EVENTS for event in events)
    ]
    if not ended:
        return []
    executions = await work.function_executions_of([instance.id for instance in ended])
    messages = []
    for instance in ended:
        execution = executions.get(instance.id)
        if execution is None:
            continue
        await work.mark_function_completing(execution.execution_id, instance.updated_at)
        messages.append(_completion(execution, instance))
    return messages


def _completion(execution: StepExecution, instance: Instance) -> OutboxMessage:
    if execution.callback_id == REQUEST_APPROVAL:
        outputs = approval_outputs(instance)
        if outputs is None:
            return completion_failed(execution, _not_decided(instance), instance_id=instance.id)
    else:
        outputs = workflow_outputs(instance)
    return OutboxMessage(
        conversation=_conversation(execution),
        method=COMPLETE_SUCCESS,
        args={"function_execution_id": execution.execution_id, "outputs": outputs},
        instance_id=instance.id,
    )


def approval_outputs(instance: Instance) -> dict[str, Any] | None:
    """request_approval's outputs for a decided request; None when it ended without a decision (cancelled)."""
    if instance.status not in (InstanceStatus.COMPLETED, InstanceStatus.REJECTED):
        return None
    decided = [t for t in instance.tasks if t.kind is StepKind.APPROVAL and t.acted_by and t.acted_at]
    last = max(decided, key=lambda t: t.acted_at or instance.updated_at) if decided else None
    decided_by = instance.finished_by or (last.acted_by if last else None) or instance.requester
    finished_at = instance.finished_at or instance.updated_at
    outputs: dict[str, Any] = {
        "decision": "approved" if instance.status is InstanceStatus.COMPLETED else "rejected",
        "decided_by": decided_by,
        "decided_at": int(finished_at.timestamp()),
        "request_id": instance.id,
    }
    comment = instance.outcome_reason or (last.comment if last else None)
    if comment:
        outputs["comment"] = comment
    return outputs


def workflow_outputs(instance: Instance) -> dict[str, Any]:
    """start_workflow's outputs: the request, how it ended, and its form values (as JSON text)."""
    outputs: dict[str, Any] = {
        "request_id": instance.id,
        "outcome": instance.status.value,
        "form_values": json.dumps(instance.form, sort_keys=True, default=str),
    }
    if instance.finished_by:
        outputs["finished_by"] = instance.finished_by
    return outputs


def _not_decided(instance: Instance) -> str:
    by = f" by <@{instance.finished_by}>" if instance.finished_by else ""
    reason = f": {instance.outcome_reason}" if instance.outcome_reason else ""
    return f"Baton request #{instance.id} was {instance.status.value}{by} before anyone decided{reason}"


def _conversation(execution: StepExecution) -> str:
    """Completions of one execution go out in order, apart from everyone's messages."""
    return f"function:{execution.execution_id}"
