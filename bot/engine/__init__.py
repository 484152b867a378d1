"""The pure workflow engine: definitions, instances, commands, timers and the state machine. No I/O."""

from .assignees import AssigneeRef, Directory
from .commands import ActOnTask, CancelInstance, Command, Decision, FireTimer, ReassignTask, SnoozeTask, StartWorkflow
from .definition import FieldType, FormField, ParallelGroup, Step, StepKind, WorkflowDefinition
from .events import (
    AddTimers,
    CancelTimers,
    Effect,
    EscalateTask,
    Event,
    InstanceFinished,
    NotifyTargets,
    Refusal,
    RemindAssignee,
    RequestReceived,
    TaskClosed,
    TaskHandedOver,
    TaskOpened,
    Transition,
)
from .expressions import FormValue
from .instance import Instance, InstanceStatus, Task, TaskStatus
from .machine import SNOOZE_OPTIONS, can_start, decide, snooze_until, start, template_values
from .org import OrgChart, OrgDirectory, OrgSettings, Person
from .timers import Timer, TimerKind
from .worktime import WorkingCalendar

__all__ = [
    "SNOOZE_OPTIONS",
    "ActOnTask",
    "AddTimers",
    "AssigneeRef",
    "CancelInstance",
    "CancelTimers",
    "Command",
    "Decision",
    "Directory",
    "Effect",
    "EscalateTask",
    "Event",
    "FieldType",
    "FireTimer",
    "FormField",
    "FormValue",
    "Instance",
    "InstanceFinished",
    "InstanceStatus",
    "NotifyTargets",
    "OrgChart",
    "OrgDirectory",
    "OrgSettings",
    "ParallelGroup",
    "Person",
    "ReassignTask",
    "Refusal",
    "RemindAssignee",
    "RequestReceived",
    "SnoozeTask",
    "StartWorkflow",
    "Step",
    "StepKind",
    "Task",
    "TaskClosed",
    "TaskHandedOver",
    "TaskOpened",
    "TaskStatus",
    "Timer",
    "TimerKind",
    "Transition",
    "WorkflowDefinition",
    "WorkingCalendar",
    "can_start",
    "decide",
    "snooze_until",
    "start",
    "template_values",
]
