"""The pure engine keeps an approval rule whole: no sequence of commands, by anyone, at any time, lets fewer
people decide than the rule needs, lets the requester approve, or lets someone decide who may not."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bot.engine import (
    ActOnTask,
    AddTimers,
    CancelInstance,
    CancelTimers,
    Command,
    CommentOn,
    Decision,
    EscalateTask,
    FireTimer,
    Instance,
    InstanceStatus,
    OrgChart,
    OrgDirectory,
    ReassignTask,
    Refusal,
    RefusalReason,
    ResubmitForm,
    SnoozeTask,
    StartWorkflow,
    StepKind,
    Task,
    TaskClosed,
    TaskStatus,
    Timer,
    TimerKind,
    Transition,
    WorkflowDefinition,
    decide,
    may_act,
    start,
)
from bot.slack.outgoing import outbox_messages
from bot.slack.refusals import refusal_text

# Wednesday 2 December 2026, 09:00 UTC: working hours for everyone below.
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
REQUESTER, MARIA, ADMIN = "U0ALICE", "U0MARIA", "U0ADMIN"
FIONA, FRANK, FELIX = "U0FIONA", "U0FRANK", "U0FELIX"
SAM, DELIA, BOB, OUTSIDER = "U0SAM", "U0DELIA", "U0BOB", "U0OUT"
# The requester sits on the board and among the seniors, and manages Fiona: every route that could hand her own
# request to her (group membership, escalation to `assignee.manager` or a group, delegation) is there to be tried.
BOARD = (FIONA, FRANK, FELIX, REQUESTER)
SENIORS = (SAM, REQUESTER)
ELIGIBLE = tuple(person for person in BOARD if person != REQUESTER)
PEOPLE = (REQUESTER, MARIA, ADMIN, FIONA, FRANK, FELIX, SAM, DELIA, BOB, OUTSIDER, "scheduler")
ORG = OrgChart.model_validate(
    {
        "people": {
            REQUESTER: {"name": "Alice", "manager": MARIA},
            FIONA: {"name": "Fiona", "manager": REQUESTER},
            FRANK: {"name": "Frank", "manager": MARIA},
            FELIX: {"name": "Felix", "manager": FIONA},
            MARIA: {"name": "Maria"},
        },
        "groups": {"board": list(BOARD), "seniors": list(SENIORS)},
    }
)


FINANCE = OrgDirectory(
    OrgChart.model_validate(
        {"people": {REQUESTER: {"name": "Alice", "manager": MARIA}}, "groups": {"finance": [FIONA, FRANK]}}
    ),
    admins=(ADMIN,),
)


def finance_all() -> WorkflowDefinition:
    step = {
        "id": "finance",
        "type": "approval",
        "title": "Finance check",
        "assignee": "group:finance",
        "rule": "all",
        "due": "1h",
        "escalate": {"after": "1h", "to": "requester.manager"},
    }
    return WorkflowDefinition.model_validate(
        {"name": "expense", "title": "Expense", "steps": [step]}, context={"groups": {"finance": [FIONA, FRANK]}}
    )


def apply(defn: WorkflowDefinition, instance: Instance, command: Command, at: datetime = NOW) -> Instance:
    outcome = decide(defn, FINANCE, instance, command, at)
    assert isinstance(outcome, Transition), outcome
    return outcome.instance


def escalated_finance_step(*, approved_by: tuple[str, ...]) -> tuple[WorkflowDefinition, Instance]:
    defn = finance_all()
    begun = start(defn, FINANCE, StartWorkflow(1, REQUESTER, {}), NOW)
    assert isinstance(begun, Transition)
    instance = begun.instance
    for person in approved_by:
        instance = apply(defn, instance, ActOnTask("1.finance", person, Decision.APPROVE))
    later = NOW + timedelta(hours=2)
    instance = apply(defn, instance, FireTimer("1.finance", TimerKind.ESCALATE.value, later), later)
    assert instance.tasks[0].escalated_to == (MARIA,)
    return defn, instance


def test_an_escalation_receivers_reassignment_moves_the_undecided_seat_and_the_rule_still_needs_both() -> None:
    # Issue 12: Fiona approved, the step escalated to Maria, Maria reassigned to Bob. That used to record
    # `from [Fiona, Frank] to [Bob]`, after which one approval was all the rule asked for.
    defn, instance = escalated_finance_step(approved_by=(FIONA,))
    outcome = decide(defn, FINANCE, instance, ReassignTask("1.finance", MARIA, BOB), NOW + timedelta(hours=2))
    assert isinstance(outcome, Transition)
    moved = next(e for e in outcome.events if e.kind == "task_reassigned")
    assert moved.data["from"] == [FIONA, FRANK] and moved.data["to"] == [FIONA, BOB]
    task = outcome.instance.tasks[0]
    assert task.assignees == (FIONA, BOB) and [v.user for v in task.votes] == [FIONA]
    done = apply(defn, outcome.instance, ActOnTask("1.finance", BOB, Decision.APPROVE))
    assert done.status is InstanceStatus.COMPLETED
    assert {v.user for v in done.tasks[0].votes if v.decision == Decision.APPROVE} == {FIONA, BOB}


def test_a_reassignment_before_anyone_decided_leaves_two_approvals_to_give() -> None:
    defn, instance = escalated_finance_step(approved_by=())
    instance = apply(defn, instance, ReassignTask("1.finance", MARIA, BOB))
    assert instance.tasks[0].assignees == (BOB, FRANK)
    instance = apply(defn, instance, ActOnTask("1.finance", BOB, Decision.APPROVE))
    assert instance.status is InstanceStatus.RUNNING and instance.tasks[0].status is TaskStatus.OPEN
    # A second reassignment moves the other seat, not the one just filled.
    instance = apply(defn, instance, ReassignTask("1.finance", MARIA, SAM))
    assert instance.tasks[0].assignees == (BOB, SAM)
    assert apply(defn, instance, ActOnTask("1.finance", SAM, Decision.APPROVE)).status is InstanceStatus.COMPLETED


def test_the_requester_neither_chooses_their_approver_nor_hears_of_their_own_stuck_approval() -> None:
    people = {REQUESTER: {"name": "Alice", "manager": MARIA}, FIONA: {"name": "Fiona", "manager": REQUESTER}}
    directory = OrgDirectory(
        OrgChart.model_validate({"people": people, "groups": {"finance": [FIONA, FRANK]}}), admins=(REQUESTER,)
    )
    step = {"id": "check", "type": "approval", "title": "Check", "assignee": FIONA, "due": "1h",
            "escalate": {"after": "1h", "to": ["assignee.manager", MARIA]}, "on_timeout": "reassign"}
    defn = WorkflowDefinition.model_validate({"name": "w", "title": "W", "steps": [step]})
    begun = start(defn, directory, StartWorkflow(1, REQUESTER, {}), NOW)
    assert isinstance(begun, Transition)
    refused = decide(defn, directory, begun.instance, ReassignTask("1.check", REQUESTER, BOB), NOW)
    assert isinstance(refused, Refusal) and "cannot choose who approves it" in refusal_text(refused)  # even as an admin
    later = NOW + timedelta(hours=2)
    escalated = decide(defn, directory, begun.instance, FireTimer("1.check", TimerKind.ESCALATE.value, later), later)
    assert isinstance(escalated, Transition)
    assert escalated.instance.tasks[0].escalated_to == (MARIA,)  # Fiona's manager is the requester: skipped
    timed_out = decide(defn, directory, begun.instance, FireTimer("1.check", TimerKind.TIMEOUT.value, later), later)
    assert isinstance(timed_out, Transition) and timed_out.instance.tasks[0].assignees == (MARIA,)


def test_a_delegate_who_already_has_a_seat_takes_no_second_one() -> None:
    directory = OrgDirectory(FINANCE.chart, admins=(ADMIN,), delegations={FIONA: FRANK})
    begun = start(finance_all(), directory, StartWorkflow(1, REQUESTER, {}), NOW)
    assert isinstance(begun, Transition)
    assert begun.instance.tasks[0].assignees == (FIONA, FRANK)
    assert "task_delegated" not in [e.kind for e in begun.events]


def test_a_change_request_has_no_reminders_to_snooze_and_a_stray_timer_for_it_does_nothing() -> None:
    defn = finance_all()
    begun = start(defn, FINANCE, StartWorkflow(1, REQUESTER, {}), NOW)
    assert isinstance(begun, Transition)
    sent_back = apply(defn, begun.instance, ActOnTask("1.finance", FIONA, Decision.REQUEST_CHANGES, "receipt?"))
    revision = sent_back.open_tasks()[0]
    assert revision.kind is StepKind.REVISION
    snoozed = decide(defn, FINANCE, sent_back, SnoozeTask(revision.id, REQUESTER, "1h"), NOW)
    assert isinstance(snoozed, Refusal) and "no reminders" in refusal_text(snoozed)
    stray = FireTimer(revision.id, TimerKind.REMIND_DUE.value, NOW, REQUESTER)  # planned by an older Baton
    assert isinstance(decide(defn, FINANCE, sent_back, stray, NOW), Refusal)


@dataclass(frozen=True)
class Setup:
    """One way a board step can be written, and the organisation it runs in."""

    rule: str
    quorum: int
    rejections_to_reject: int
    escalation_may_act: bool
    allow_changes: bool
    on_timeout: str | None
    ladder: tuple[str, ...]
    delegations: dict[str, str]
    requester_is_admin: bool

    def definition(self) -> WorkflowDefinition:
        board: dict[str, Any] = {
            "id": "board",
            "type": "approval",
            "title": "Board decides",
            "assignee": "group:board",
            "rule": self.rule,
            "rejections_to_reject": self.rejections_to_reject,
            "escalation_may_act": self.escalation_may_act,
            "allow_changes": self.allow_changes,
            "due": "1h",
            "remind": {"repeat": "1h"},
            "escalate": {"after": "1h", "to": list(self.ladder), "repeat": "1h"},
        }
        if self.rule == "quorum":
            board["quorum"] = self.quorum
        if self.on_timeout is not None:
            board |= {"on_timeout": self.on_timeout, "timeout": "3h"}
        sign = {"id": "sign", "type": "approval", "title": "Sign", "assignee": "requester.manager"}
        data = {
            "name": "board",
            "title": "Board",
            "form": [{"id": "amount", "label": "Amount", "type": "number", "min": 0}],
            "steps": [board, sign],
        }
        return WorkflowDefinition.model_validate(data, context={"groups": ORG.groups})

    def directory(self) -> OrgDirectory:
        admins = (ADMIN, REQUESTER) if self.requester_is_admin else (ADMIN,)
        return OrgDirectory(ORG, admins=admins, delegations=self.delegations)

    def approvals_needed(self, task: Task) -> int:
        """What the rule asks for, from the workflow as written: one seat per eligible board member."""
        if task.step_id != "board" or self.rule == "any":
            return 1
        if self.rule == "all":
            return len(ELIGIBLE)
        return min(self.quorum, len(ELIGIBLE))


setups = st.builds(
    Setup,
    rule=st.sampled_from(["all", "quorum", "any"]),
    quorum=st.integers(1, 4),
    rejections_to_reject=st.integers(1, 2),
    escalation_may_act=st.booleans(),
    allow_changes=st.booleans(),
    on_timeout=st.sampled_from([None, "reassign", "reject", "cancel"]),
    ladder=st.lists(
        st.sampled_from(["assignee.manager", "requester.manager", "group:seniors", "group:board", SAM, BOB]),
        min_size=1,
        max_size=3,
    ).map(tuple),
    delegations=st.dictionaries(
        st.sampled_from([FIONA, FRANK, FELIX, MARIA]), st.sampled_from([DELIA, FRANK, FELIX, REQUESTER, SAM])
    ).map(lambda chosen: {absent: delegate for absent, delegate in chosen.items() if absent != delegate}),
    requester_is_admin=st.booleans(),
)
people = st.sampled_from(PEOPLE)
picks = st.integers(0, 20)


class ApprovalRulesHold(RuleBasedStateMachine):
    """Random commands by random people, and the timers the engine plans, fired in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.timers: list[Timer] = []
        self.fired: list[Timer] = []
        self.qualified_votes: set[tuple[str, str]] = set()
        self.task_dms: set[str] = set()  # message keys of the task DMs sent so far

    @initialize(setup=setups)
    def begin(self, setup: Setup) -> None:
        self.setup = setup
        self.definition = setup.definition()
        self.directory = setup.directory()
        self._start(1)

    @precondition(lambda self: self.instance.status.is_finished)
    @rule()
    def next_request(self) -> None:
        self._start(self.instance.id + 1)

    def _start(self, instance_id: int) -> None:
        command = StartWorkflow(instance_id, REQUESTER, {"amount": 10})
        outcome = start(self.definition, self.directory, command, self.now)
        assert isinstance(outcome, Transition), outcome
        self.instance = outcome.instance
        self.timers = []
        self._follow(outcome)
        self._check_new_state(self.instance.model_copy(update={"tasks": ()}), outcome)
        self._check_messages(outcome)

    # -- commands ------------------------------------------------------------------------------------------------

    @rule(actor=people, decision=st.sampled_from(["approve", "reject", "complete", "request_changes"]), pick=picks,
          comment=st.sampled_from([None, "", "because"]))
    def act(self, actor: str, decision: str, pick: int, comment: str | None) -> None:
        self._run(ActOnTask(self._task_id(pick), actor, decision, comment))

    @rule(actor=people, to=st.sampled_from([*PEOPLE, "not-a-user"]), pick=picks)
    def reassign(self, actor: str, to: str, pick: int) -> None:
        self._run(ReassignTask(self._task_id(pick), actor, to, "over to you"))

    @rule(actor=people, option=st.sampled_from(["1h", "tomorrow", "next_week", "never"]), pick=picks)
    def snooze(self, actor: str, option: str, pick: int) -> None:
        self._run(SnoozeTask(self._task_id(pick), actor, option))

    @rule(actor=people)
    def comment(self, actor: str) -> None:
        self._run(CommentOn(actor, "a thought"))

    @rule(actor=people, amount=st.integers(0, 5000), pick=picks)
    def resubmit(self, actor: str, amount: int, pick: int) -> None:
        revisions = [t for t in self.instance.tasks if t.kind is StepKind.REVISION] or list(self.instance.tasks)
        self._run(ResubmitForm(revisions[pick % len(revisions)].id, actor, {"amount": amount}))

    @rule(actor=people)
    def cancel(self, actor: str) -> None:
        self._run(CancelInstance(actor, "changed my mind"))

    @precondition(lambda self: bool(self.timers))
    @rule(pick=picks)
    def fire_timer(self, pick: int) -> None:
        timer = self.timers.pop(pick % len(self.timers))
        self.fired.append(timer)
        self.now = max(self.now, timer.at)
        self._run(FireTimer(timer.task_id, timer.kind.value, timer.at, timer.recipient, timer.level))

    @precondition(lambda self: bool(self.fired))
    @rule(pick=picks)
    def fire_a_timer_again(self, pick: int) -> None:
        timer = self.fired[pick % len(self.fired)]
        self._run(FireTimer(timer.task_id, timer.kind.value, timer.at, timer.recipient, timer.level))

    @rule(hours=st.integers(1, 30))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # -- what must always hold -----------------------------------------------------------------------------------

    @invariant()
    def the_requester_never_holds_nor_hears_to_act_on_their_own_approval(self) -> None:
        for task in self.instance.open_tasks():
            if task.kind is StepKind.APPROVAL:
                assert REQUESTER not in task.assignees, task
                assert REQUESTER not in task.escalated_to, task

    @invariant()
    def every_vote_was_cast_by_someone_who_could_decide(self) -> None:
        for task in self.instance.tasks:
            for vote in task.votes:
                assert (task.id, vote.user) in self.qualified_votes, (task, vote)
                assert not (vote.user == REQUESTER and vote.decision == Decision.APPROVE), vote

    # -- the checks of one transition ----------------------------------------------------------------------------

    def _check_may_act_agrees(self, before: Instance, command: ActOnTask, outcome: Transition | Refusal) -> None:
        """Asked before the comment is written, the engine says no exactly when deciding would, for the same
        reason; a yes may still need the comment (a reason to reject, what should change)."""
        asked = may_act(self.definition, self.directory, before, command, self.now)
        if asked is not None:
            assert isinstance(outcome, Refusal) and outcome.why == asked.why, (asked, outcome)
        elif isinstance(outcome, Refusal):
            assert outcome.why.reason in (RefusalReason.REASON_NEEDED, RefusalReason.CHANGES_NEEDED), outcome

    def _task_id(self, pick: int) -> str:
        tasks = self.instance.open_tasks() or self.instance.tasks
        return tasks[pick % len(tasks)].id if tasks else f"{self.instance.id}.board"

    def _run(self, command: Command) -> None:
        before = self.instance
        outcome = decide(self.definition, self.directory, before, command, self.now)
        if isinstance(command, ActOnTask):
            self._check_may_act_agrees(before, command, outcome)
        if isinstance(outcome, Refusal):
            assert outcome.event.kind == "action_refused"
            return
        if isinstance(command, ActOnTask):
            self._check_decider(before, command)
        if isinstance(command, ReassignTask):
            task = before.task(command.task_id)
            assert task is not None
            assert not (task.kind is StepKind.APPROVAL and command.actor == REQUESTER), "chose their own approver"
        self.instance = outcome.instance
        self._follow(outcome)
        self._check_new_state(before, outcome)
        self._check_messages(outcome)

    def _check_decider(self, before: Instance, command: ActOnTask) -> None:
        task = before.task(command.task_id)
        assert task is not None
        step = self.definition.step(task.step_id)
        escalated_here = step.escalation_may_act and command.actor in task.escalated_to
        assert command.actor in task.assignees or self.directory.is_admin(command.actor) or escalated_here, (
            f"{command.actor} decided {task.id} held by {task.assignees}"
        )
        assert not (command.actor == REQUESTER and command.decision == Decision.APPROVE), "approved their own"
        self.qualified_votes.add((task.id, command.actor))

    def _check_new_state(self, before: Instance, outcome: Transition) -> None:
        for task in outcome.instance.tasks:
            earlier = before.task(task.id)
            if earlier is not None and not earlier.status.is_open:
                continue
            if task.status is TaskStatus.APPROVED:
                approvers = {vote.user for vote in task.votes if vote.decision == Decision.APPROVE}
                assert task.acted_by is not None, task  # this workflow never approves by itself
                assert len(approvers) >= self.setup.approvals_needed(task), (
                    f"{task.id} approved by {sorted(approvers)}, the rule needs {self.setup.approvals_needed(task)}"
                )
        if outcome.instance.status is InstanceStatus.COMPLETED:
            for step_id in ("board", "sign"):
                task = outcome.instance.latest_task(step_id)
                assert task is not None and task.status is TaskStatus.APPROVED, task
        for effect in outcome.effects:
            if isinstance(effect, EscalateTask) and effect.task.kind is StepKind.APPROVAL:
                assert REQUESTER not in effect.people, effect

    def _check_messages(self, outcome: Transition) -> None:
        """One task DM per person per task; updates go to DMs that exist; a closed task leaves no live buttons."""
        messages = outbox_messages(self.definition, outcome.instance, outcome.effects)
        for message in messages:
            key = message.message_key or ""
            if not key.startswith("task:"):
                continue
            if message.method == "chat.postMessage":
                assert key not in self.task_dms, f"a second DM {key}: {message.args['text']}"
                self.task_dms.add(key)
            else:
                assert key in self.task_dms, f"an update of {key}, never sent, would arrive as a new DM"
        closed = {effect.task.id for effect in outcome.effects if isinstance(effect, TaskClosed)}
        for task_id in closed:
            prefix = f"task:{task_id}:"
            last = {m.message_key: m for m in messages if m.message_key and m.message_key.startswith(prefix)}
            for key in (k for k in self.task_dms if k.startswith(prefix)):
                assert key in last, f"{key} is not told that the task closed"
                assert '"actions"' not in json.dumps(last[key].args["blocks"]), f"{key} keeps its buttons"

    def _follow(self, outcome: Transition) -> None:
        """Keep the timers the way the service stores them: cancellations first, then the new ones."""
        for effect in outcome.effects:
            if isinstance(effect, CancelTimers):
                self.timers = [t for t in self.timers if not _cancels(effect, t)]
            elif isinstance(effect, AddTimers):
                self.timers.extend(effect.timers)


def _cancels(effect: CancelTimers, timer: Timer) -> bool:
    if timer.task_id != effect.task_id:
        return False
    if effect.recipient is not None and timer.recipient != effect.recipient:
        return False
    return not effect.reminders_only or TimerKind(timer.kind).is_reminder


ApprovalRulesHold.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_no_command_sequence_breaks_an_approval_rule = ApprovalRulesHold.TestCase
