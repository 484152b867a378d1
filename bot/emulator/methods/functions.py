"""functions.*: Workflow Builder custom steps. Executions Slack starts (`function_executed`) and their completion.

Not in the reference files; from Slack's method pages (functions.completeSuccess / completeError, Tier 3, no scope)
and the function_executed event page: `function_execution_not_found`, `execution_not_in_running_state` (completed
twice, or after an error), `parameter_validation_failed` (outputs that do not fit the output_parameters)."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.arguments import Handler, SlackApiFailure, is_missing
from bot.emulator.workspace import Workspace

__all__ = ["FUNCTION_TOKEN_SECONDS", "FUNCTION_TIERS", "FunctionExecution", "FunctionMethods"]

FUNCTION_TIERS = {"functions.completeSuccess": "t3", "functions.completeError": "t3"}
# An execution's bot_access_token lives until the step completes, and 15 minutes at most (a Slack engineer's
# answer in slackapi/bolt-python#1075): an app must not count on it for a step that waits for people.
FUNCTION_TOKEN_SECONDS = 15 * 60
_ID_TYPES = {
    "slack#/types/user_id": re.compile(r"^[UW][A-Z0-9]+$"),
    "slack#/types/usergroup_id": re.compile(r"^S[A-Z0-9]+$"),
    "slack#/types/channel_id": re.compile(r"^[CGD][A-Z0-9]+$"),
}


@dataclass
class FunctionExecution:
    """One run of an app's step in a workflow, as Slack keeps it."""

    execution_id: str
    callback_id: str
    workflow_execution_id: str
    inputs: dict[str, Any]
    bot_access_token: str
    issued_at: float
    state: str = "running"  # running | completed | failed
    outputs: dict[str, Any] | None = None
    error: str | None = None
    attempts: list[str] = field(default_factory=list)  # every completion call's answer, in order


class FunctionMethods:
    """The app's functions (from its manifest) and their executions."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self.definitions: dict[str, Mapping[str, Any]] = {}
        self.executions: dict[str, FunctionExecution] = {}

    def handlers(self) -> dict[str, Handler]:
        return {"functions.completeSuccess": self.complete_success, "functions.completeError": self.complete_error}

    def define(self, functions: Mapping[str, Mapping[str, Any]]) -> None:
        """Learn the app's functions as manifest.yml declares them (`functions:`)."""
        self.definitions.update(functions)

    def execute(self, callback_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Start an execution of a step (a workflow reached it) and return its function_executed event."""
        definition = self.definitions.get(callback_id, {})
        rng = self._workspace.rng
        execution = FunctionExecution(
            execution_id=f"Fx{rng.getrandbits(48):012X}",
            callback_id=callback_id,
            workflow_execution_id=f"Wx{rng.getrandbits(48):012X}",
            inputs=dict(inputs),
            bot_access_token=f"xwfp-{rng.getrandbits(64):016x}",
            issued_at=self._workspace.clock(),
        )
        self.executions[execution.execution_id] = execution
        now = int(self._workspace.clock())
        return {
            "type": "function_executed",
            "function": {
                "id": f"Fn{zlib.crc32(callback_id.encode()):010d}",
                "callback_id": callback_id,
                "title": definition.get("title", callback_id),
                "description": definition.get("description", ""),
                "type": "app",
                "input_parameters": _parameters(definition.get("input_parameters")),
                "output_parameters": _parameters(definition.get("output_parameters")),
                "app_id": self._workspace.app_id,
                "date_created": now,
                "date_updated": now,
                "date_deleted": 0,
            },
            "inputs": dict(inputs),
            "function_execution_id": execution.execution_id,
            "workflow_execution_id": execution.workflow_execution_id,
            "event_ts": f"{self._workspace.clock():.6f}",
            "bot_access_token": execution.bot_access_token,
        }

    def token_problem(self, token: str) -> str:
        """Why Slack refuses a token that is not the bot's: an execution's token once it ended or expired."""
        execution = next((e for e in self.executions.values() if e.bot_access_token == token), None)
        if execution is None:
            return "invalid_auth"
        if execution.state != "running":
            return "token_revoked"
        if self._workspace.clock() - execution.issued_at > FUNCTION_TOKEN_SECONDS:
            return "token_expired"
        return ""

    def complete_success(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._running(args)
        outputs = args.get("outputs")
        if isinstance(outputs, str):  # form-encoded calls send it as JSON text
            try:
                outputs = json.loads(outputs)
            except ValueError:
                outputs = None
        if not isinstance(outputs, dict):
            raise self._refused(execution, "invalid_arguments", "[ERROR] outputs must be an object")
        problems = _output_problems(self.definitions.get(execution.callback_id, {}), outputs)
        if problems:
            raise self._refused(execution, "parameter_validation_failed", *problems)
        execution.state, execution.outputs = "completed", outputs
        execution.attempts.append("ok")
        return {"ok": True}

    def complete_error(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._running(args)
        if is_missing(args.get("error")):
            raise self._refused(execution, "invalid_arguments", "[ERROR] missing required field: error")
        execution.state, execution.error = "failed", str(args["error"])
        execution.attempts.append("ok")
        return {"ok": True}

    def _running(self, args: Mapping[str, Any]) -> FunctionExecution:
        execution_id = args.get("function_execution_id")
        if is_missing(execution_id):
            raise SlackApiFailure("invalid_arguments", "[ERROR] missing required field: function_execution_id")
        execution = self.executions.get(str(execution_id))
        if execution is None:
            raise SlackApiFailure("function_execution_not_found")
        if execution.state != "running":
            raise self._refused(execution, "execution_not_in_running_state")
        return execution

    @staticmethod
    def _refused(execution: FunctionExecution, error: str, *messages: str) -> SlackApiFailure:
        execution.attempts.append(error)
        return SlackApiFailure(error, *messages)


def _parameters(declared: Any) -> list[dict[str, Any]]:
    """Manifest parameters (`properties` and `required`) as the event lists them."""
    if not isinstance(declared, Mapping):
        return []
    required = set(declared.get("required") or ())
    return [
        {
            "type": spec.get("type"),
            "name": name,
            "title": spec.get("title", name),
            "description": spec.get("description", ""),
            "is_required": name in required,
        }
        for name, spec in (declared.get("properties") or {}).items()
    ]


def _output_problems(definition: Mapping[str, Any], outputs: Mapping[str, Any]) -> list[str]:
    declared = definition.get("output_parameters") or {}
    properties: Mapping[str, Any] = declared.get("properties") or {}
    problems = [
        f"[ERROR] missing required output: {name}" for name in declared.get("required") or () if name not in outputs
    ]
    for name, value in outputs.items():
        spec = properties.get(name)
        if spec is None:
            problems.append(f"[ERROR] unknown output: {name}")
        elif not _fits(spec, value):
            problems.append(f"[ERROR] output {name} is not a {spec.get('type')}")
    return problems


def _fits(spec: Mapping[str, Any], value: Any) -> bool:
    kind = spec.get("type")
    if kind in _ID_TYPES:
        return isinstance(value, str) and bool(_ID_TYPES[kind].match(value))
    if kind in ("integer", "slack#/types/timestamp"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        items = spec.get("items") or {}
        return isinstance(value, list) and all(_fits(items, item) for item in value)
    return True
