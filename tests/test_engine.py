"""The pure engine: every rule of the state machine, table-driven, no event loop, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine import (
    ActOnTask,
    CancelInstance,
    Decision,
    Instance,
    InstanceFinished,
    InstanceStatus,
    Named,
    NotifyTargets,
    OrgChart,
    OrgDirectory,
    Refusal,
    RequestReceived,
    StartWorkflow,
    TaskClosed,
    TaskOpened,
    TaskStatus,
    Transition,
    Typed,
    WorkflowDefinition,
    decide,
    start,
    worded,
)
from bot.engine.wording import PLAIN_WORDING, Written
from bot.slack.refusals import refusal_text
from bot.slack.wording import SLACK_WORDING

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ORG = OrgChart.model_validate(
    {
        "people": {
            "U0ALICE": {"name": "Alice", "manager": "U0MARIA"},
            "U0MARIA": {"name": "Maria", "manager": "U0DIRK"},
            "U0DIRK": {"name": "Dirk"},
            "U0LONE": {"name": "Lone wolf"},
        },
        "groups": {"finance": ["U0FIONA", "U0FRANK"], "hr": ["U0HANNA"], "empty": []},
    }
)
DIRECTORY = OrgDirectory(ORG, admins=("U0ADMIN",))
NO_ADMINS = OrgDirectory(ORG)


def definition(**overrides: Any) -> WorkflowDefinition:
    data: dict[str, Any] = {
        "name": "expense",
        "title": "Expense",
        "form": [
            {"id": "amount", "label": "Amount", "type": "number", "min": 0},
            {"id": "approver", "label": "Approver", "type": "user", "required": False},
        ],
        "steps": [
            {"id": "manager", "type": "approval", "title": "Approve {form.amount}", "assignee": "requester.manager"},
            {
                "id": "finance",
                "type": "approval",
                "title": "Finance check",
                "assignee": "group:finance",
                "when": "form.amount > 1000",
                "due": "2d",
            },
            {"id": "tell", "type": "notify", "to": ["requester", "#finance"], "text": "Paid {form.amount}"},
        ],
    }
    data.update(overrides)
    return WorkflowDefinition.model_validate(data, context={"groups": ORG.groups})


def started(defn: WorkflowDefinition, *, requester: str = "U0ALICE", directory: OrgDirectory = DIRECTORY,
            **form: Any) -> Transition:
    outcome = start(defn, directory, StartWorkflow(1, requester, {"amount": 10, **form}), NOW)
    assert isinstance(outcome, Transition), outcome
    return outcome


def act(defn: WorkflowDefinition, instance: Instance, step: str, actor: str, decision: str,
        comment: str | None = None, directory: OrgDirectory = DIRECTORY) -> Transition | Refusal:
    return decide(defn, directory, instance, ActOnTask(f"{instance.id}.{step}", actor, decision, comment), NOW)


def open_steps(instance: Instance) -> list[str]:
    return [task.step_id for task in instance.open_tasks()]


def test_start_opens_the_first_step_for_the_requesters_manager() -> None:
    outcome = started(definition())
    assert open_steps(outcome.instance) == ["manager"]
    task = outcome.instance.tasks[0]
    assert task.assignees == ("U0MARIA",)
    assert task.title == worded("Approve ", Typed(typed="10"))  # the amount as typed: each adapter words it
    assert isinstance(outcome.effects[0], RequestReceived)
    assert TaskOpened(task) in outcome.effects
    assert [e.kind for e in outcome.events] == ["instance_started", "task_assigned"]


@pytest.mark.parametrize(
    ("amount", "expected_steps"),
    [(1000, ["manager"]), (1000.01, ["manager", "finance"])],
)
def test_when_condition_decides_whether_finance_approves(amount: float, expected_steps: list[str]) -> None:
    defn = definition()
    instance = started(defn, amount=amount).instance
    outcome = act(defn, instance, "manager", "U0MARIA", Decision.APPROVE)
    assert isinstance(outcome, Transition)
    assert [t.step_id for t in outcome.instance.tasks] == expected_steps
    if len(expected_steps) == 1:
        assert outcome.instance.status is InstanceStatus.COMPLETED
        assert "step_skipped" in [e.kind for e in outcome.events]
        notify = [e for e in outcome.effects if isinstance(e, NotifyTargets)]
        assert notify == [NotifyTargets("tell", ("U0ALICE",), ("#finance",), worded("Paid ", Typed(typed="1000")))]
    else:
        assert outcome.instance.status is InstanceStatus.RUNNING
        finance = outcome.instance.task("1.finance")
        assert finance is not None and finance.assignees == ("U0FIONA", "U0FRANK")
        assert finance.due_at == NOW + timedelta(days=2)


def test_any_group_member_decides_a_group_task_and_the_workflow_completes() -> None:
    defn = definition()
    instance = started(defn, amount=5000).instance
    after_manager = act(defn, instance, "manager", "U0MARIA", Decision.APPROVE)
    assert isinstance(after_manager, Transition)
    done = act(defn, after_manager.instance, "finance", "U0FRANK", Decision.APPROVE, "ok")
    assert isinstance(done, Transition)
    assert done.instance.status is InstanceStatus.COMPLETED
    assert any(isinstance(effect, InstanceFinished) for effect in done.effects)
    finance = done.instance.task("1.finance")
    assert finance is not None and finance.acted_by == "U0FRANK" and finance.comment == "ok"


def test_reject_ends_the_workflow_with_the_reason() -> None:
    defn = definition()
    instance = started(defn).instance
    outcome = act(defn, instance, "manager", "U0MARIA", Decision.REJECT, "no receipt")
    assert isinstance(outcome, Transition)
    assert outcome.instance.status is InstanceStatus.REJECTED
    assert outcome.instance.outcome_reason == "no receipt"
    assert outcome.instance.finished_by == "U0MARIA"
    assert [e.kind for e in outcome.events] == ["task_rejected", "instance_rejected"]


PARALLEL = [
    {
        "parallel": [
            {"id": "paperwork", "title": "Paperwork", "assignee": "group:hr"},
            {"id": "laptop", "title": "Laptop", "assignee": "U0IVAN"},
        ]
    },
    {"id": "signoff", "type": "approval", "title": "Sign off", "assignee": "requester.manager"},
]


def test_parallel_tasks_open_together_and_the_next_stage_waits_for_all() -> None:
    defn = definition(steps=PARALLEL)
    instance = started(defn).instance
    assert open_steps(instance) == ["paperwork", "laptop"]
    one = act(defn, instance, "laptop", "U0IVAN", Decision.COMPLETE)
    assert isinstance(one, Transition) and open_steps(one.instance) == ["paperwork"]
    both = act(defn, one.instance, "paperwork", "U0HANNA", Decision.COMPLETE, "filed")
    assert isinstance(both, Transition) and open_steps(both.instance) == ["signoff"]


def test_rejection_cancels_the_other_open_tasks_and_closes_their_messages() -> None:
    steps = [{"parallel": [
        {"id": "a", "type": "approval", "title": "A", "assignee": "U0MARIA"},
        {"id": "b", "type": "task", "title": "B", "assignee": "U0IVAN"},
    ]}]
    defn = definition(steps=steps)
    outcome = act(defn, started(defn).instance, "a", "U0MARIA", Decision.REJECT, "no")
    assert isinstance(outcome, Transition)
    b = outcome.instance.task("1.b")
    assert b is not None and b.status is TaskStatus.CANCELLED
    assert TaskClosed(b) in outcome.effects


@pytest.mark.parametrize(
    ("actor", "decision", "comment", "refusal"),
    [
        ("U0BOB", Decision.APPROVE, None, "Only <@U0MARIA> can act on this task."),
        ("U0MARIA", Decision.COMPLETE, None, "This task can only be approved or rejected."),
        ("U0MARIA", Decision.REJECT, "  ", "Please give a reason when you reject."),
        ("U0MARIA", "sign", None, "Unknown decision."),
    ],
)
def test_refusals_change_nothing(actor: str, decision: str, comment: str | None, refusal: str) -> None:
    defn = definition()
    instance = started(defn).instance
    outcome = act(defn, instance, "manager", actor, decision, comment)
    assert isinstance(outcome, Refusal)
    assert refusal_text(outcome) == refusal
    assert outcome.event.kind == "action_refused" and outcome.event.actor == actor


def test_an_admin_may_act_for_the_assignee_and_it_is_recorded() -> None:
    defn = definition()
    outcome = act(defn, started(defn).instance, "manager", "U0ADMIN", Decision.APPROVE)
    assert isinstance(outcome, Transition)
    assert outcome.events[0].data["on_behalf"] is True


def test_a_second_decision_on_the_same_task_is_refused_and_names_who_decided() -> None:
    defn = definition()
    first = act(defn, started(defn, amount=5000).instance, "manager", "U0MARIA", Decision.APPROVE)
    assert isinstance(first, Transition)
    second = act(defn, first.instance, "manager", "U0MARIA", Decision.REJECT, "changed my mind")
    assert isinstance(second, Refusal)
    assert refusal_text(second) == "This task was already approved by <@U0MARIA>; nothing changed."


def test_requester_can_never_approve_their_own_request_even_as_admin() -> None:
    steps = [{"id": "check", "type": "approval", "title": "Check", "assignee": ["form.approver", "group:finance"]}]
    defn = definition(steps=steps)
    # The requester is named as approver: the chain falls through to finance.
    instance = started(defn, requester="U0FIONA", approver="U0FIONA").instance
    assert instance.tasks[0].assignees == ("U0FRANK",)
    # An admin requester acting on their own approval is refused.
    admin_instance = started(defn, requester="U0ADMIN").instance
    outcome = act(defn, admin_instance, "check", "U0ADMIN", Decision.APPROVE)
    assert isinstance(outcome, Refusal)
    assert "separation of duties" in refusal_text(outcome)


def test_self_approval_is_allowed_only_where_the_step_says_so() -> None:
    steps = [{"id": "ack", "type": "approval", "title": "Ack", "assignee": "requester", "allow_self_approval": True}]
    defn = definition(steps=steps)
    outcome = act(defn, started(defn).instance, "ack", "U0ALICE", Decision.APPROVE)
    assert isinstance(outcome, Transition) and outcome.instance.status is InstanceStatus.COMPLETED


def test_nobody_to_assign_falls_back_to_admins_then_fails_cleanly() -> None:
    steps = [{"id": "x", "title": "X", "assignee": "requester.manager"}]
    defn = definition(steps=steps)
    fallback = started(defn, requester="U0LONE")
    assert fallback.instance.tasks[0].assignees == ("U0ADMIN",)
    assert "assignee_fallback" in [e.kind for e in fallback.events]
    failed = started(defn, requester="U0LONE", directory=NO_ADMINS)
    assert failed.instance.status is InstanceStatus.FAILED
    assert "Nobody could be found" in (failed.instance.outcome_reason or "")


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [("U0ALICE", True), ("U0ADMIN", True), ("U0MARIA", False)],
)
def test_only_the_requester_or_an_admin_can_cancel(actor: str, allowed: bool) -> None:
    defn = definition()
    instance = started(defn).instance
    outcome = decide(defn, DIRECTORY, instance, CancelInstance(actor, "wrong form"), NOW)
    assert isinstance(outcome, Transition) is allowed
    if isinstance(outcome, Transition):
        assert outcome.instance.status is InstanceStatus.CANCELLED
        assert all(task.status is TaskStatus.CANCELLED for task in outcome.instance.tasks)


def test_a_finished_workflow_takes_no_more_actions() -> None:
    defn = definition()
    instance = started(defn).instance
    cancelled = decide(defn, DIRECTORY, instance, CancelInstance("U0ALICE"), NOW)
    assert isinstance(cancelled, Transition)
    for command in (ActOnTask("1.manager", "U0MARIA", Decision.APPROVE), CancelInstance("U0ADMIN")):
        outcome = decide(defn, DIRECTORY, cancelled.instance, command, NOW)
        assert isinstance(outcome, Refusal) and "already cancelled" in refusal_text(outcome)


def test_start_policy_limits_who_may_start() -> None:
    defn = definition(start={"allowed": ["group:hr"]})
    refused = start(defn, DIRECTORY, StartWorkflow(1, "U0ALICE", {"amount": 1}), NOW)
    assert isinstance(refused, Refusal) and "not among the people" in refusal_text(refused)
    assert isinstance(start(defn, DIRECTORY, StartWorkflow(1, "U0HANNA", {"amount": 1}), NOW), Transition)
    assert isinstance(start(defn, DIRECTORY, StartWorkflow(1, "U0ADMIN", {"amount": 1}), NOW), Transition)


def test_bad_form_values_are_refused_at_start() -> None:
    outcome = start(definition(), DIRECTORY, StartWorkflow(1, "U0ALICE", {"amount": "lots"}), NOW)
    assert isinstance(outcome, Refusal) and "amount" in refusal_text(outcome)


def test_a_workflow_of_only_skipped_and_notify_steps_completes_at_once() -> None:
    steps = [
        {"id": "big", "title": "Big", "assignee": "U0MARIA", "when": "form.amount > 100"},
        {"id": "tell", "type": "notify", "to": "group:finance", "text": "{requester} spent {form.amount}"},
    ]
    outcome = started(definition(steps=steps), amount=5)
    assert outcome.instance.status is InstanceStatus.COMPLETED
    said = worded(Named(user="U0ALICE"), " spent ", Typed(typed="5"))
    assert NotifyTargets("tell", ("U0FIONA", "U0FRANK"), (), said) in outcome.effects


def test_unknown_task_is_refused() -> None:
    defn = definition()
    outcome = decide(defn, DIRECTORY, started(defn).instance, ActOnTask("1.nope", "U0MARIA", "approve"), NOW)
    assert isinstance(outcome, Refusal)


def test_templates_carry_people_and_typed_text_as_facts_that_each_wording_shows_its_own_way() -> None:
    steps = [{"id": "tell", "type": "notify", "to": "U0FIONA", "text": "{requester} wrote {form.note}"}]
    defn = WorkflowDefinition.model_validate(
        {"name": "w", "title": "W", "form": [{"id": "note", "label": "Note"}], "steps": steps}
    )
    outcome = start(defn, DIRECTORY, StartWorkflow(1, "U0ALICE", {"note": "<!channel> & co"}), NOW)
    assert isinstance(outcome, Transition)
    (notify,) = [effect for effect in outcome.effects if isinstance(effect, NotifyTargets)]
    assert notify.text == worded(Named(user="U0ALICE"), " wrote ", Typed(typed="<!channel> & co"))
    assert notify.text.shown_in(PLAIN_WORDING) == "@U0ALICE wrote <!channel> & co"
    assert notify.text.shown_in(SLACK_WORDING) == "<@U0ALICE> wrote &lt;!channel&gt; &amp; co"


def test_worded_text_with_a_limit_is_cut_in_typed_text_before_wording_and_never_in_a_person() -> None:
    revision = worded("Update your request: ", Typed(typed="a" * 120 + "&&"), limit=150)
    assert revision.shown_in(PLAIN_WORDING) == "Update your request: " + "a" * 120 + "&&"
    assert revision.shown_in(SLACK_WORDING) == "Update your request: " + "a" * 120 + "&amp;"  # not `&amp;&am`
    named = worded("Extend “", Typed(typed="x" * 134), Named(user="U0ALICE"), "” by 3 days", limit=150)
    assert named.shown_in(SLACK_WORDING) == "Extend “" + "x" * 134  # not `<@U0AL`
    assert named.shown_in(PLAIN_WORDING) == "Extend “" + "x" * 134 + "@U0ALICE"


_PIECES = st.lists(
    st.text(alphabet="ab ", max_size=3)
    | st.builds(Written, written=st.text(alphabet="cd", max_size=2))
    | st.builds(Typed, typed=st.text(alphabet="<&", max_size=2))
    | st.builds(Named, user=st.sampled_from(["U1", "U2"])),
    max_size=8,
)


@given(pieces=_PIECES, nested=_PIECES)
def test_worded_text_drops_empty_pieces_and_joins_neighbours_of_a_kind(pieces: list[Any], nested: list[Any]) -> None:
    text = worded(*pieces, worded(*nested))
    parts = text.parts
    texts = [part.written if isinstance(part, Written) else part.typed for part in parts if not isinstance(part, Named)]
    assert all(texts)
    assert not any(type(a) is type(b) and not isinstance(a, Named) for a, b in zip(parts, parts[1:], strict=False))
    for wording in (PLAIN_WORDING, SLACK_WORDING):
        expected = "".join(worded(piece).shown_in(wording) for piece in [*pieces, *nested])
        assert text.shown_in(wording) == expected


def test_the_engine_writes_no_slack_markup_of_its_own() -> None:
    engine = Path(__file__).resolve().parents[1] / "bot" / "engine"
    for module in engine.glob("*.py"):
        source = module.read_text()
        for markup in ("<@", "&lt;", "<!", "mrkdwn"):
            assert markup not in source, f"{module.name} writes {markup!r}: carry it as worded text"
