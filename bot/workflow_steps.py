"""Baton's Workflow Builder steps: a `function_executed` event becomes a Baton request, or a clear error."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from bot.engine import (
    FormValue,
    OrgDirectory,
    Refusal,
    RefusalReason,
    StartWorkflow,
    Transition,
    Why,
    WorkflowDefinition,
    can_start,
    start,
)
from bot.pipeline import CommandPipeline, Refused, Subject
from bot.step_outputs import REQUEST_APPROVAL, START_WORKFLOW, completion_failed
from bot.store import StepExecution, UnitOfWork
from bot.workspace import Workspace

__all__ = ["APPROVAL_WORKFLOW", "StepBegun", "StepExecutions", "approval_definition", "approvals_for_reports"]

log = logging.getLogger(__name__)

APPROVAL_WORKFLOW = "workflow-builder-approval"  # the name every request_approval request is counted under
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_RULES = ("any", "all", "quorum")


@dataclass(frozen=True)
class StepBegun:
    """What became of an execution: its request, the error Slack is told, or nothing (Slack's retry)."""

    instance_id: int | None = None
    error: str | None = None
    repeated: bool = False


class _Plan(NamedTuple):
    """The request an execution asks for: on which definition, for whom, with which form."""

    definition: WorkflowDefinition
    requester: str
    form: dict[str, FormValue]


class StepExecutions:
    """Starts the request a Workflow Builder step asks for, recording the execution in the same transaction."""

    def __init__(
        self,
        workspace: Workspace,
        pipeline: CommandPipeline,
        *,
        usergroup_handle: Callable[[str], str | None] = lambda _id: None,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._workspace = workspace
        self._pipeline = pipeline
        self._usergroup_handle = usergroup_handle
        self._on_commit = on_commit

    async def begin(self, execution: StepExecution, inputs: Mapping[str, Any]) -> StepBegun:
        """Start the request (committed before Slack is answered), or queue completeError saying why not."""
        plan = self._plan(execution.callback_id, inputs)
        if isinstance(plan, str):
            return await self._fail(execution, plan)
        now = self._workspace.now()

        async def load(work: UnitOfWork) -> Subject | Refused:
            new_id = await work.next_instance_id()
            if not await work.claim_function_execution(execution, new_id, now):
                return Refused(Why(RefusalReason.ALREADY_RECEIVED))
            return Subject(plan.definition, new_instance_id=new_id)

        def judge(subject: Subject, directory: OrgDirectory, at: datetime) -> Transition | Refusal:
            assert subject.new_instance_id is not None
            command = StartWorkflow(subject.new_instance_id, plan.requester, plan.form, None, "workflow_builder")
            return start(plan.definition, directory, command, at)

        outcome = await self._pipeline.run(load, judge)
        if isinstance(outcome, Refused):
            if outcome.why.reason is RefusalReason.ALREADY_RECEIVED:
                return StepBegun(repeated=True)
            return await self._fail(
                execution, f"Baton could not start the request ({outcome.why.reason})", claimed=True
            )
        log.info(
            "workflow builder step started a request: step=%s execution=%s instance=%s",
            execution.callback_id,
            execution.execution_id,
            outcome.instance.id,
        )
        return StepBegun(instance_id=outcome.instance.id)

    async def _fail(self, execution: StepExecution, error: str, *, claimed: bool = False) -> StepBegun:
        """Record the execution and queue completeError, in one transaction (a retry of it queues nothing)."""
        now = self._workspace.now()
        async with self._workspace.store.transaction() as work:
            if not claimed and not await work.claim_function_execution(execution, None, now):
                return StepBegun(repeated=True)
            await work.mark_function_completing(execution.execution_id, now)
            await work.enqueue([completion_failed(execution, error)], now)
        self._on_commit()
        log.info(
            "workflow builder step refused: step=%s execution=%s: %s",
            execution.callback_id,
            execution.execution_id,
            error,
        )
        return StepBegun(error=error)

    def _plan(self, callback_id: str, inputs: Mapping[str, Any]) -> _Plan | str:
        """The definition, requester and form an execution asks for, or what is wrong with its inputs."""
        if callback_id not in (REQUEST_APPROVAL, START_WORKFLOW):
            return f"Baton has no Workflow Builder step called `{callback_id[:60]}`; update the workflow's steps."
        requester = str(inputs.get("requester") or "").strip()
        if not _USER_ID.match(requester):
            return "The step needs `requester`: the person the request is for (e.g. the person who used the workflow)."
        if callback_id == REQUEST_APPROVAL:
            built = approval_definition(inputs, self._workspace.now(), usergroup_handle=self._usergroup_handle)
            if isinstance(built, str):
                return built
            definition, form = built
        else:
            found = self._catalog_workflow(inputs)
            if isinstance(found, str):
                return found
            definition, form = found
        clean, errors = definition.validate_form(form)
        if errors:
            problems = "; ".join(f"{field}: {message}" for field, message in sorted(errors.items()))
            return f"The form values for `{definition.name}` are not valid: {problems}"
        if not can_start(definition, self._workspace.directory, requester):
            return f"<@{requester}> may not start `{definition.name}` (see its `start.allowed`)."
        return _Plan(definition, requester, clean)

    def _catalog_workflow(self, inputs: Mapping[str, Any]) -> tuple[WorkflowDefinition, dict[str, FormValue]] | str:
        name = str(inputs.get("workflow") or "").strip().lower()
        definition = self._workspace.catalog.workflows.get(name)
        if definition is None:
            known = ", ".join(sorted(self._workspace.catalog.workflows)) or "none"
            return f"There is no Baton workflow called `{name[:60]}`. Workflows: {known}."
        values = form_values(inputs.get("form_values"))
        if isinstance(values, str):
            return values
        return definition, values


def form_values(raw: Any) -> dict[str, FormValue] | str:
    """The step's form values: an object, or JSON text of one (Workflow Builder fills text more easily)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            return f"`form_values` is not JSON: {error}"
    if not isinstance(raw, dict):
        return '`form_values` must be a JSON object such as {"amount": 120, "purpose": "Train to Lyon"}.'
    return {
        str(key): value if isinstance(value, str | int | float) or value is None else _listed(value)
        for key, value in raw.items()
    }


def _listed(value: Any) -> FormValue:
    """A list of texts stays a list (a multi_select or multi_user field's values); anything else becomes text."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [str(item) for item in value]
    return str(value)


def approval_definition(
    inputs: Mapping[str, Any], now: datetime, *, usergroup_handle: Callable[[str], str | None]
) -> tuple[WorkflowDefinition, dict[str, FormValue]] | str:
    """A one-step approval workflow built from request_approval's inputs (stored with its request, like any
    definition), with Baton's reminders and escalation; or what is wrong with the inputs."""
    approvers = inputs.get("approvers") or []
    if isinstance(approvers, str):
        approvers = [approvers]
    if not isinstance(approvers, list) or not all(isinstance(a, str) and _USER_ID.match(a) for a in approvers):
        return "`approvers` must be a list of people (Slack user IDs)."
    people = list(dict.fromkeys(approvers))
    assignees = [",".join(people)] if people else []  # one task for them all (a list would be a fallback chain)
    group_id = str(inputs.get("approver_group") or "").strip()
    if group_id and people:
        return "Name the approvers as people or as a user group, not both."
    if group_id:
        handle = usergroup_handle(group_id)
        if handle is None:
            return (
                f"Baton does not know the user group `{group_id[:40]}` (is it enabled, and is Baton in the workspace?)."
            )
        assignees.append(f"@{handle}")
    if not assignees:
        return "Name at least one approver: `approvers` (people) or `approver_group` (a user group)."
    rule = str(inputs.get("rule") or "any").strip().lower()
    if rule not in _RULES:
        return f"`rule` must be any, all or quorum, not `{rule[:20]}`."
    step: dict[str, Any] = {
        "id": "decide",
        "type": "approval",
        "title": "{form.title}",
        "description": "{form.details}",
        "assignee": assignees,
        "rule": rule,
    }
    if rule == "quorum":
        quorum = inputs.get("quorum")
        if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 1:
            return "`rule: quorum` needs `quorum`: how many approvals decide (a whole number, 1 or more)."
        step["quorum"] = quorum
    due = inputs.get("due")
    if due not in (None, ""):
        try:
            seconds = float(due) - now.timestamp()
        except (TypeError, ValueError):
            return "`due` must be a time (a Unix timestamp)."
        if seconds < 60:
            return "`due` is in the past: pick a time at least a minute from now."
        step["due"] = f"{max(1, round(seconds / 60))}m"
        step["remind"] = {"at_due": True, "repeat": "1d"}
        step["escalate"] = {"after": "1d", "to": "assignee.manager"}
    title = str(inputs.get("title") or "").strip()
    if not title:
        return "The step needs a `title`: what is to be approved."
    try:
        definition = WorkflowDefinition.model_validate(_approval_body(step))
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        return f"The approval cannot be built: {str(first['msg']).removeprefix('Value error, ')}"
    return definition, {"title": title, "details": str(inputs.get("details") or "") or None}


def approvals_for_reports() -> WorkflowDefinition:
    """What `/workflow report` and `export` show Workflow Builder approvals under (their admins' view: no owners)."""
    step = {"id": "decide", "type": "approval", "title": "{form.title}", "assignee": ["requester"]}
    return WorkflowDefinition.model_validate(_approval_body(step))


def _approval_body(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": APPROVAL_WORKFLOW,
        "title": "Workflow Builder",
        "description": "An approval asked for by a step of a Slack Workflow Builder workflow.",
        "form": [
            {"id": "title", "label": "What needs approval?", "max_length": 150},
            {"id": "details", "label": "Details", "multiline": True, "required": False},
        ],
        "steps": [step],
        "satisfaction": False,  # ratings belong to workflow files, whose owners read them
    }
