"""The pure engine's time rules: timer planning, reminders, escalation ladders, deadlines, snooze, reassign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.engine import (
    ActOnTask,
    AddTimers,
    CancelTimers,
    EscalateTask,
    ExtendWait,
    FireTimer,
    Instance,
    InstanceStatus,
    OrgChart,
    OrgDirectory,
    ReassignTask,
    Refusal,
    RemindAssignee,
    SnoozeTask,
    StartWorkflow,
    TaskHandedOver,
    TaskStatus,
    Timer,
    TimerKind,
    Transition,
    WorkflowDefinition,
    decide,
    start,
    worded,
)
from bot.engine.timers import next_repeat
from bot.slack.refusals import refusal_text

# Wednesday 2 December 2026, 10:00 in Berlin.
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ORG = OrgChart.model_validate(
    {
        "people": {
            "U0ALICE": {"name": "Alice", "manager": "U0MARIA", "tz": "Europe/Berlin"},
            "U0MARIA": {"name": "Maria", "manager": "U0DIRK", "tz": "Europe/Berlin"},
            "U0DIRK": {"name": "Dirk", "manager": "U0CEO", "tz": "Europe/Berlin"},
            "U0CEO": {"name": "Cleo", "tz": "Asia/Tokyo"},
        },
        "groups": {},
    }
)
DIRECTORY = OrgDirectory(ORG, admins=("U0ADMIN",))


def definition(**step: Any) -> WorkflowDefinition:
    base = {"id": "check", "type": "approval", "title": "Check", "assignee": "requester.manager", "due": "1h"}
    return WorkflowDefinition.model_validate({"name": "w", "title": "W", "steps": [{**base, **step}]})


def begin(defn: WorkflowDefinition) -> Transition:
    outcome = start(defn, DIRECTORY, StartWorkflow(1, "U0ALICE", {}), NOW)
    assert isinstance(outcome, Transition)
    return outcome


def begin_with(defn: WorkflowDefinition, directory: OrgDirectory) -> Instance:
    outcome = start(defn, directory, StartWorkflow(1, "U0ALICE", {}), NOW)
    assert isinstance(outcome, Transition)
    return outcome.instance


def timers_of(transition: Transition) -> list[Timer]:
    return [timer for effect in transition.effects if isinstance(effect, AddTimers) for timer in effect.timers]


def fire(defn: WorkflowDefinition, instance: Instance, timer: Timer, at: datetime) -> Transition | Refusal:
    command = FireTimer(timer.task_id, timer.kind.value, timer.at, timer.recipient, timer.level)
    return decide(defn, DIRECTORY, instance, command, at)


@pytest.mark.parametrize(
    ("scheduled_minutes", "now_minutes", "expected_minutes"),
    [(0, 0, 30), (0, 29, 30), (0, 30, 60), (0, 95, 120), (0, 600, 630)],
)
def test_next_repeat_skips_missed_ticks(scheduled_minutes: int, now_minutes: int, expected_minutes: int) -> None:
    at = next_repeat(
        NOW + timedelta(minutes=scheduled_minutes), timedelta(minutes=30), NOW + timedelta(minutes=now_minutes)
    )
    assert at == NOW + timedelta(minutes=expected_minutes)


def test_a_task_with_policies_plans_its_timers() -> None:
    defn = definition(
        remind={"before": "15m", "repeat": "1h"}, escalate={"after": "2h"}, timeout="1d", on_timeout="reject"
    )
    timers = timers_of(begin(defn))
    due = NOW + timedelta(hours=1)
    assert [(t.kind, t.at, t.recipient) for t in timers] == [
        (TimerKind.REMIND_BEFORE, due - timedelta(minutes=15), "U0MARIA"),
        (TimerKind.REMIND_DUE, due, "U0MARIA"),
        (TimerKind.ESCALATE, due + timedelta(hours=2), None),
        (TimerKind.TIMEOUT, NOW + timedelta(days=1), None),
    ]


def test_business_days_count_working_days_in_the_assignees_zone() -> None:
    # Friday 4 December 2026, 16:00 Berlin + 2 business days = Tuesday 8 December, 16:00 Berlin.
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    outcome = start(definition(due="2 business days"), DIRECTORY, StartWorkflow(1, "U0ALICE", {}), friday)
    assert isinstance(outcome, Transition)
    assert outcome.instance.tasks[0].due_at == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)


def test_a_reminder_at_night_waits_for_the_morning_and_then_repeats() -> None:
    defn = definition(remind={"repeat": "1h"})
    instance = begin(defn).instance
    due_timer = next(t for t in timers_of(begin(defn)) if t.kind is TimerKind.REMIND_DUE)
    night = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)  # 23:00 Berlin
    deferred = fire(defn, instance, due_timer, night)
    assert isinstance(deferred, Transition) and not deferred.events
    (later,) = timers_of(deferred)
    assert later.at == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 09:00 Berlin next day
    sent = fire(defn, instance, later, later.at)
    assert isinstance(sent, Transition)
    assert any(isinstance(e, RemindAssignee) and e.overdue_by for e in sent.effects)
    assert [t.kind for t in timers_of(sent)] == [TimerKind.REMIND_OVERDUE]
    assert sent.instance.tasks[0].reminders_sent == 1


def test_the_escalation_ladder_climbs_and_skips_rungs_that_name_nobody_new() -> None:
    defn = definition(
        escalate={"after": "1h", "to": ["assignee.manager", "requester.manager", "U0CEO"], "repeat": "1h"}
    )
    instance = begin(defn).instance
    first = fire(
        defn, instance, Timer("1.check", TimerKind.ESCALATE, NOW + timedelta(hours=2)), NOW + timedelta(hours=2)
    )
    assert isinstance(first, Transition)
    escalation = next(e for e in first.effects if isinstance(e, EscalateTask))
    assert escalation.people == ("U0DIRK",) and escalation.overdue_by == timedelta(hours=1)
    (climb,) = timers_of(first)
    assert climb.level == 1
    # requester.manager is Maria, who already holds the task: the ladder goes on to the CEO (in Tokyo, 18:00
    # there: outside her hours, so it waits for her morning).
    second = fire(defn, first.instance, climb, climb.at)
    assert isinstance(second, Transition) and not any(isinstance(e, EscalateTask) for e in second.effects)
    (tokyo_morning,) = timers_of(second)
    assert tokyo_morning.at == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "instance_status", "task_status"),
    [
        ("reject", InstanceStatus.REJECTED, TaskStatus.REJECTED),
        ("approve", InstanceStatus.COMPLETED, TaskStatus.APPROVED),
        ("cancel", InstanceStatus.CANCELLED, TaskStatus.CANCELLED),
    ],
)
def test_timeout_actions(action: str, instance_status: InstanceStatus, task_status: TaskStatus) -> None:
    defn = definition(on_timeout=action)
    instance = begin(defn).instance
    outcome = fire(
        defn, instance, Timer("1.check", TimerKind.TIMEOUT, NOW + timedelta(hours=1)), NOW + timedelta(hours=1)
    )
    assert isinstance(outcome, Transition)
    assert outcome.instance.status is instance_status
    assert outcome.instance.tasks[0].status is task_status
    assert CancelTimers("1.check") in outcome.effects


def test_timeout_reassign_hands_the_task_up_the_ladder_with_a_fresh_due_time() -> None:
    defn = definition(escalate={"after": "1h"}, on_timeout="reassign")
    instance = begin(defn).instance
    at = NOW + timedelta(hours=1)
    outcome = fire(defn, instance, Timer("1.check", TimerKind.TIMEOUT, at), at)
    assert isinstance(outcome, Transition)
    task = outcome.instance.tasks[0]
    assert task.assignees == ("U0DIRK",) and task.previous_assignees == ("U0MARIA",)
    assert task.due_at == at + timedelta(hours=1)
    handed = next(e for e in outcome.effects if isinstance(e, TaskHandedOver))
    assert handed.previous == ("U0MARIA",) and handed.by is None


def test_each_deadline_passed_climbs_one_rung_up_to_the_admins_and_stops_there() -> None:
    defn = definition(escalate={"after": "1h", "to": ["U0DIRK", "U0CEO"]}, on_timeout="reassign")
    instance = begin(defn).instance
    holders = []
    for hour in range(1, 5):
        at = NOW + timedelta(hours=hour)
        outcome = fire(defn, instance, Timer("1.check", TimerKind.TIMEOUT, at), at)
        assert isinstance(outcome, Transition)
        instance = outcome.instance
        holders.append(instance.tasks[0].assignees)
    # Dirk, then Cleo, then the admins; the admins keep it (no bouncing back down the ladder)
    assert holders == [("U0DIRK",), ("U0CEO",), ("U0ADMIN",), ("U0ADMIN",)]


def test_an_escalation_reaches_each_person_in_their_own_working_hours() -> None:
    people = ORG.model_dump()["people"] | {
        "U0LON": {"name": "Lena in London", "tz": "Europe/London"},
        "U0NYC": {"name": "Ned in New York", "tz": "America/New_York"},
    }
    directory = OrgDirectory(OrgChart.model_validate({"people": people, "groups": {"finance": ["U0LON", "U0NYC"]}}))
    defn = definition(escalate={"after": "1h", "to": "group:finance"})
    instance = begin_with(defn, directory)
    # 09:00 UTC on a Wednesday: 09:00 in London, 04:00 in New York
    now_ = fire_with(defn, directory, instance, Timer("1.check", TimerKind.ESCALATE, NOW), NOW)
    told = [e.people for e in now_.effects if isinstance(e, EscalateTask)]
    held = [t for t in timers_of(now_) if t.kind is TimerKind.ESCALATE]
    assert told == [("U0LON",)]
    assert [(t.recipient, t.at) for t in held] == [("U0NYC", NOW + timedelta(hours=5))]  # 09:00 in New York
    later = fire_with(defn, directory, now_.instance, held[0], held[0].at)
    assert [e.people for e in later.effects if isinstance(e, EscalateTask)] == [("U0NYC",)]
    assert later.instance.tasks[0].escalated_to == ("U0LON", "U0NYC")
    again = fire_with(defn, directory, later.instance, held[0], held[0].at)  # a timer fired twice tells no one
    assert not [e for e in again.effects if isinstance(e, EscalateTask)]


def fire_with(
    defn: WorkflowDefinition, directory: OrgDirectory, instance: Instance, timer: Timer, at: datetime
) -> Transition:
    command = FireTimer(timer.task_id, timer.kind.value, timer.at, timer.recipient, timer.level)
    outcome = decide(defn, directory, instance, command, at)
    assert isinstance(outcome, Transition)
    return outcome


def test_a_member_who_has_voted_gets_no_more_reminders_while_the_others_decide() -> None:
    defn = definition(assignee="group:board", rule="all", remind={"repeat": "1h"})
    instance = begin_with(defn, BOARD)
    voted = decide(defn, BOARD, instance, ActOnTask("1.check", "U0B1", "approve"), NOW)
    assert isinstance(voted, Transition)
    assert CancelTimers("1.check", recipient="U0B1", reminders_only=True) in voted.effects
    at = NOW + timedelta(hours=1)
    for person, reminded in (("U0B1", False), ("U0B2", True)):
        command = FireTimer("1.check", TimerKind.REMIND_DUE.value, at, person, 0)
        outcome = decide(defn, BOARD, voted.instance, command, at)
        assert isinstance(outcome, Transition)
        assert any(isinstance(e, RemindAssignee) for e in outcome.effects) is reminded, person


@pytest.mark.parametrize(
    ("actor", "to", "refusal"),
    [
        ("U0BOB", "U0DIRK", "Only the people holding this task"),
        ("U0MARIA", "U0ALICE", "cannot approve their own request"),
        ("U0MARIA", "U0MARIA", "to yourself"),
        ("U0DIRK", "U0DIRK", "Only the people holding this task"),
        ("U0MARIA", "not-a-user", "Pick a person"),
    ],
)
def test_reassign_refusals(actor: str, to: str, refusal: str) -> None:
    defn = definition()
    outcome = decide(defn, DIRECTORY, begin(defn).instance, ReassignTask("1.check", actor, to), NOW)
    assert isinstance(outcome, Refusal) and refusal in refusal_text(outcome)


BOARD = OrgDirectory(
    OrgChart.model_validate({"people": ORG.model_dump()["people"], "groups": {"board": ["U0B1", "U0B2", "U0B3"]}}),
    admins=("U0ADMIN",),
)


def test_one_of_several_deciders_hands_on_only_their_own_seat() -> None:
    defn = definition(assignee="group:board", rule="all")
    instance = begin_with(defn, BOARD)
    outcome = decide(defn, BOARD, instance, ReassignTask("1.check", "U0B1", "U0DIRK"), NOW)
    assert isinstance(outcome, Transition)
    assert outcome.instance.tasks[0].assignees == ("U0DIRK", "U0B2", "U0B3")  # still three approvals needed
    for actor, to, refusal in [
        ("U0B1", "U0B1", "to yourself"),  # no way to shrink the board to one
        ("U0B1", "U0B2", "already holds this task"),
    ]:
        refused = decide(defn, BOARD, instance, ReassignTask("1.check", actor, to), NOW)
        assert isinstance(refused, Refusal) and refusal in refusal_text(refused)
    voted = decide(defn, BOARD, instance, ActOnTask("1.check", "U0B2", "approve"), NOW)
    assert isinstance(voted, Transition)
    refused = decide(defn, BOARD, voted.instance, ReassignTask("1.check", "U0B2", "U0DIRK"), NOW)
    assert isinstance(refused, Refusal) and "decided on this task already" in refusal_text(refused)


def test_someone_the_task_was_escalated_to_cannot_take_it_over_where_the_step_forbids_acting() -> None:
    defn = definition(escalation_may_act=False)
    started = begin(defn).instance
    task = started.tasks[0].model_copy(update={"escalated_to": ("U0DIRK",)})
    instance = started.model_copy(update={"tasks": (task,)})
    approve = decide(defn, DIRECTORY, instance, ActOnTask("1.check", "U0DIRK", "approve"), NOW)
    assert isinstance(approve, Refusal)
    to_self = decide(defn, DIRECTORY, instance, ReassignTask("1.check", "U0DIRK", "U0DIRK"), NOW)
    assert isinstance(to_self, Refusal) and "to yourself" in refusal_text(to_self)
    elsewhere = decide(defn, DIRECTORY, instance, ReassignTask("1.check", "U0DIRK", "U0CEO"), NOW)
    assert isinstance(elsewhere, Transition) and elsewhere.instance.tasks[0].assignees == ("U0CEO",)
    # Those it was escalated to and those it was handed on from still see the request (status, comments).
    assert instance.involves("U0DIRK") and elsewhere.instance.involves("U0MARIA")
    assert not instance.involves("U0CEO")


def test_snooze_is_for_the_holder_and_never_past_the_deadline() -> None:
    defn = definition(remind={"repeat": "1h"}, timeout="3h", on_timeout="reject")
    instance = begin(defn).instance
    stranger = decide(defn, DIRECTORY, instance, SnoozeTask("1.check", "U0DIRK", "1h"), NOW)
    assert isinstance(stranger, Refusal)
    outcome = decide(defn, DIRECTORY, instance, SnoozeTask("1.check", "U0MARIA", "tomorrow"), NOW)
    assert isinstance(outcome, Transition)
    assert outcome.instance.tasks[0].snoozed_until == NOW + timedelta(hours=3)  # bounded by the deadline
    assert CancelTimers("1.check", recipient="U0MARIA", reminders_only=True) in outcome.effects


def test_timers_of_a_closed_task_do_nothing() -> None:
    defn = definition(remind={"repeat": "1h"})
    instance = begin(defn).instance
    cancelled = decide(defn, DIRECTORY, instance, ReassignTask("1.check", "U0ADMIN", "U0DIRK"), NOW)
    assert isinstance(cancelled, Transition)
    stale = fire(defn, cancelled.instance, Timer("1.check", TimerKind.REMIND_DUE, NOW, "U0MARIA"), NOW)
    assert isinstance(stale, Transition) and not stale.effects  # Maria no longer holds it


# ---- waits and lapsing grants -----------------------------------------------------------------------

LAPSING = {
    "name": "lapse",
    "title": "Lapse",
    "form": [{"id": "days", "label": "Days", "type": "number", "required": False}],
    "steps": [
        {
            "id": "grant", "type": "task", "title": "Grant", "assignee": "U0DIRK",
            "expires": {"after": "form.days days", "extend": {"approver": "requester.manager", "most_days": 5},
                        "revoke": {"title": "Revoke"}},
        }
    ],
}  # fmt: skip


def granted(days: int | None) -> Transition:
    defn = WorkflowDefinition.model_validate(LAPSING)
    opened = start(defn, DIRECTORY, StartWorkflow(1, "U0ALICE", {"days": days}), NOW)
    assert isinstance(opened, Transition)
    done = decide(defn, DIRECTORY, opened.instance, ActOnTask("1.grant", "U0DIRK", "complete"), NOW)
    assert isinstance(done, Transition)
    return done


def test_a_grant_for_no_days_does_not_lapse_and_one_for_some_waits_then_revokes() -> None:
    assert granted(None).instance.status is InstanceStatus.COMPLETED
    waiting = granted(3).instance
    wait = waiting.task("1.grant_expiry")
    assert wait is not None and wait.due_at == NOW + timedelta(days=3) and wait.assignees == ("U0ALICE",)
    defn = WorkflowDefinition.model_validate(LAPSING)
    over = decide(defn, DIRECTORY, waiting, FireTimer(wait.id, TimerKind.WAIT_OVER.value, wait.due_at), wait.due_at)
    assert isinstance(over, Transition)
    revoke = over.instance.task("1.grant_revoke")
    assert revoke is not None and revoke.assignees == ("U0DIRK",) and revoke.title == worded("Revoke")


def test_nobody_acts_on_a_wait_and_a_refused_extension_changes_nothing() -> None:
    defn = WorkflowDefinition.model_validate(LAPSING)
    waiting = granted(3).instance
    for command in (ActOnTask("1.grant_expiry", "U0ALICE", "complete"), SnoozeTask("1.grant_expiry", "U0ALICE", "1h")):
        refused = decide(defn, DIRECTORY, waiting, command, NOW)
        assert isinstance(refused, Refusal) and refused.why.reason.value == "wait_is_not_work"
    for actor, days, reason in (("U0MARIA", 2, "not_requester_to_extend"), ("U0ALICE", 6, "extension_length")):
        refused = decide(defn, DIRECTORY, waiting, ExtendWait("1.grant_expiry", actor, days, "why"), NOW)
        assert isinstance(refused, Refusal) and refused.why.reason.value == reason
    not_hers = decide(defn, DIRECTORY, waiting, ExtendWait("1.grant_expiry", "U0MARIA", 2, "why"), NOW)
    assert isinstance(not_hers, Refusal) and not_hers.event.data["title"] == "Access from “Grant”"  # as plain text
    asked = decide(defn, DIRECTORY, waiting, ExtendWait("1.grant_expiry", "U0ALICE", 2, "more work"), NOW)
    assert isinstance(asked, Transition)
    extension = asked.instance.task("1.grant_expiry.x1")
    assert extension is not None and extension.title == worded("Extend “Access from “Grant”” by 2 days", limit=150)
    again = decide(defn, DIRECTORY, asked.instance, ExtendWait("1.grant_expiry", "U0ALICE", 1, "more"), NOW)
    assert isinstance(again, Refusal) and again.why.reason.value == "extension_pending"
    rejected = decide(defn, DIRECTORY, asked.instance, ActOnTask("1.grant_expiry.x1", "U0MARIA", "reject", "no"), NOW)
    assert isinstance(rejected, Transition)
    assert rejected.instance.status is InstanceStatus.RUNNING  # the request goes on; only more time was refused
    wait = rejected.instance.task("1.grant_expiry")
    assert wait is not None and wait.status is TaskStatus.OPEN and wait.due_at == NOW + timedelta(days=3)
    approved = decide(defn, DIRECTORY, asked.instance, ActOnTask("1.grant_expiry.x1", "U0MARIA", "approve"), NOW)
    assert isinstance(approved, Transition)
    longer = approved.instance.task("1.grant_expiry")
    assert longer is not None and longer.due_at == NOW + timedelta(days=5)
    kinds = [t.kind for effect in approved.effects if isinstance(effect, AddTimers) for t in effect.timers]
    assert TimerKind.WAIT_OVER in kinds


def test_a_wait_until_a_datetime_field_ends_at_that_moment() -> None:
    defn = WorkflowDefinition.model_validate(
        {
            "name": "w", "title": "W",
            "form": [{"id": "at", "label": "At", "type": "datetime"}],
            "steps": [
                {"id": "hold", "type": "wait", "until": "form.at"},
                {"id": "go", "title": "Go", "assignee": "U0DIRK"},
            ],
        }
    )  # fmt: skip
    opened = start(defn, DIRECTORY, StartWorkflow(1, "U0ALICE", {"at": "2026-12-05T18:30:00Z"}), NOW)
    assert isinstance(opened, Transition)
    hold = opened.instance.task("1.hold")
    assert hold is not None and hold.due_at == datetime(2026, 12, 5, 18, 30, tzinfo=UTC) and hold.assignees == ()
