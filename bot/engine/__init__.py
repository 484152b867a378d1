"""The pure workflow engine: definitions, instances, commands and the state machine. No I/O."""

from .assignees import AssigneeRef, Directory
from .commands import ActOnTask, CancelInstance, Command, Decision, StartWorkflow
from .definition import FieldType, FormField, ParallelGroup, Step, StepKind, WorkflowDefinition
from .events import (
    Effect,
    Event,
    InstanceFinished,
    NotifyTargets,
    Refusal,
    RequestReceived,
    TaskClosed,
    TaskOpened,
    Transition,
)
from .expressions import FormValue
from .instance import Instance, InstanceStatus, Task, TaskStatus
from .machine import can_start, decide, start, template_values
from .org import OrgChart, OrgDirectory, Person

__all__ = [
    "ActOnTask",
    "AssigneeRef",
    "CancelInstance",
    "Command",
    "Decision",
    "Directory",
    "Effect",
    "Event",
    "FieldType",
    "FormField",
    "FormValue",
    "Instance",
    "InstanceFinished",
    "InstanceStatus",
    "NotifyTargets",
    "OrgChart",
    "OrgDirectory",
    "ParallelGroup",
    "Person",
    "Refusal",
    "RequestReceived",
    "StartWorkflow",
    "Step",
    "StepKind",
    "Task",
    "TaskClosed",
    "TaskOpened",
    "TaskStatus",
    "Transition",
    "WorkflowDefinition",
    "can_start",
    "decide",
    "start",
    "template_values",
]
