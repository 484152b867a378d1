"""Baton's messages as Block Kit: task DMs with buttons, outcomes, status and lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.engine import (
    ApprovalRule,
    FieldChange,
    FieldType,
    FormField,
    FormValue,
    Instance,
    InstanceStatus,
    StepKind,
    Task,
    TaskDelegated,
    TaskStatus,
    Vote,
    WorkflowDefinition,
    placeholder_text,
    template_values,
)
from bot.engine.digest import Assignment, DigestPlan
from bot.engine.expressions import render_template
from bot.store import AuditEntry

from .blocks import (
    MESSAGE_BLOCKS_LIMIT,
    Block,
    actions,
    button,
    clip,
    context,
    divider,
    fit_blocks,
    header,
    plain,
    section,
)
from .history_words import history_phrase
from .rating_blocks import rating_blocks
from .views import CALLBACK_RESUBMIT, start_form_view
from .wording import SLACK_WORDING, escape_text

__all__ = [
    "ACTION_EDIT_REQUEST",
    "ACTION_MORE",
    "ACTION_WITHDRAW",
    "ACTION_REASSIGN",
    "ACTION_SNOOZE",
    "fill_permalink",
    "legacy_permalink_line",
    "digest_blocks",
    "decision_note",
    "escalation_blocks",
    "revision_view",
    "handed_over_blocks",
    "how_long",
    "reminder_blocks",
    "snooze_menu",
    "ACTION_APPROVE",
    "ACTION_COMPLETE",
    "ACTION_COMPLETE_WITH_NOTE",
    "ACTION_REJECT",
    "TASK_ACTIONS",
    "audit_blocks",
    "closed_task_blocks",
    "finished_blocks",
    "form_summary",
    "help_text",
    "open_task_blocks",
    "receipt_blocks",
    "requests_blocks",
    "status_blocks",
    "task_buttons",
    "button_labels",
    "task_list_blocks",
    "when",
    "workflow_list_blocks",
]

ACTION_APPROVE = "task_approve"
ACTION_REJECT = "task_reject"
ACTION_COMPLETE = "task_complete"
ACTION_COMPLETE_WITH_NOTE = "task_complete_with_note"
ACTION_MORE = "task_more"
ACTION_EDIT_REQUEST = "request_edit"
ACTION_WITHDRAW = "request_withdraw"
ACTION_EXTEND = "wait_extend"
TASK_ACTIONS = (ACTION_APPROVE, ACTION_REJECT, ACTION_COMPLETE, ACTION_COMPLETE_WITH_NOTE)

_STATUS_ICON = {
    InstanceStatus.RUNNING: ":hourglass_flowing_sand:",
    InstanceStatus.COMPLETED: ":white_check_mark:",
    InstanceStatus.REJECTED: ":x:",
    InstanceStatus.CANCELLED: ":no_entry_sign:",
    InstanceStatus.FAILED: ":warning:",
}
_TASK_ICON = {
    TaskStatus.OPEN: ":hourglass_flowing_sand:",
    TaskStatus.DONE: ":white_check_mark:",
    TaskStatus.APPROVED: ":white_check_mark:",
    TaskStatus.REJECTED: ":x:",
    TaskStatus.CANCELLED: ":no_entry_sign:",
    TaskStatus.CHANGES_REQUESTED: ":leftwards_arrow_with_hook:",
}
_TASK_OUTCOME = {
    TaskStatus.DONE: "Done",
    TaskStatus.APPROVED: "Approved",
    TaskStatus.REJECTED: "Rejected",
    TaskStatus.CANCELLED: "Cancelled",
    TaskStatus.CHANGES_REQUESTED: "Changes requested",
}


def when(moment: datetime) -> str:
    """A Slack date token: shown in each reader's own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def form_summary(definition: WorkflowDefinition, instance: Instance) -> list[str]:
    """Form values as `*Label*\nvalue` fields, people as mentions."""
    fields = []
    for field in definition.form:
        value = instance.form.get(field.id)
        if value is None:
            continue
        fields.append(f"*{field.label}*\n{clip(shown_value(field, value), 1500)}")
    if len(fields) > 10:  # a section shows at most 10 fields: pack them so that none is dropped
        per = -(-len(fields) // 10)
        fields = [clip("\n".join(fields[i : i + per]), 2000) for i in range(0, len(fields), per)]
    return fields


def shown_value(field: FormField, value: FormValue) -> str:
    """One form value as a reader sees it: people as mentions, files as links (`<permalink|name>`), a date and
    time in the reader's own zone, options by their labels, typed text escaped."""
    items: list[Any] = value if isinstance(value, list) else [value]
    if field.type is FieldType.FILE:
        links = [_file_link(item) for item in items if isinstance(item, dict)]
        return ", ".join(link for link in links if link)
    if field.type is FieldType.DATETIME:
        try:
            return when(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
        except ValueError:
            return escape_text(str(value))
    return placeholder_text(field, value, SLACK_WORDING)


def _file_link(file: Mapping[str, Any]) -> str:
    name = escape_text(str(file.get("name") or "file")).replace("|", "¦")
    permalink = file.get("permalink")
    safe = isinstance(permalink, str) and not set(permalink) & set("<>| ")
    if safe and isinstance(permalink, str) and permalink.startswith(("https://", "http://")):
        return f"<{permalink}|{name}>"
    return name


def _task_header_blocks(definition: WorkflowDefinition, instance: Instance, task: Task) -> list[Block]:
    description = ""
    if task.kind is StepKind.REVISION:
        description = f"<@{task.previous_assignees[0]}> asked for changes." if task.previous_assignees else ""
    elif task.extension is not None:
        reason = clip(escape_text(task.extension.reason), 1500)
        description = f"<@{instance.requester}> asks for {task.extension.days} more days" + (
            f":\n> {reason}" if reason else "."
        )
    else:
        step = definition.step(task.step_id)
        if step.description:
            description = render_template(step.description, template_values(definition, instance, SLACK_WORDING))
    blocks: list[Block] = [
        section(f"*{task.title}*"),  # a section, not a header: titles may mention people
        section(
            f"*{instance.title}* requested by <@{instance.requester}>" + (f"\n{description}" if description else ""),
            fields=form_summary(definition, instance),
        ),
    ]
    if task.changes:
        lines = [_change_line(definition.field(c.field), c) for c in task.changes]
        blocks.append(section(f":pencil2: *Changed in round {task.round}*\n" + "\n".join(lines)))
    if task.votes:
        blocks.append(context(" · ".join(_vote_line(vote) for vote in task.votes)))
    details = [f"Request #{task.instance_id} (`/workflow status {task.instance_id}`)"]
    if task.due_at:
        details.append(f"{'ends' if task.kind is StepKind.WAIT else 'due'} {when(task.due_at)}")
    if len(task.assignees) > 1:
        details.append("assigned to " + ", ".join(f"<@{u}>" for u in task.assignees) + _rule_note(definition, task))
    for delegate, absent in task.delegated_from.items():
        details.append(f"<@{delegate}> covers for <@{absent}>")
    blocks.append(context(" · ".join(details)))
    return blocks


def _change_line(field: FormField | None, change: FieldChange) -> str:
    def shown(value: FormValue) -> str:
        if value is None:
            return "—"
        return clip(shown_value(field, value) if field else escape_text(str(value)), 300)

    label = field.label if field else change.field
    return f"• *{label}*: ~{shown(change.old)}~ → {shown(change.new)}"


_DECIDED = {"approve": "approved", "reject": "rejected", "request_changes": "asked for changes"}


def _vote_line(vote: Vote) -> str:
    icon = ":white_check_mark:" if vote.decision == "approve" else ":x:"
    said = f": {clip(escape_text(vote.comment), 200)}" if vote.comment else ""
    return f"{icon} <@{vote.user}> {_DECIDED.get(vote.decision, vote.decision)}{said}"


def _rule_note(definition: WorkflowDefinition, task: Task) -> str:
    if task.kind is not StepKind.APPROVAL:
        return " (any one of you)"
    step = definition.step(task.step_id)
    if step.rule is ApprovalRule.ALL:
        return " (all of you must approve)"
    if step.rule is ApprovalRule.QUORUM:
        return f" ({min(step.quorum or 1, len(task.assignees))} approvals needed)"
    return " (any one of you)"


def open_task_blocks(
    definition: WorkflowDefinition, instance: Instance, task: Task, *, viewer: str | None = None
) -> list[Block]:
    """The DM an assignee gets: what is asked, the request's details, and the buttons (until they voted)."""
    blocks = _task_header_blocks(definition, instance, task)
    voted = next((vote for vote in task.votes if vote.user == viewer), None)
    if task.kind is StepKind.WAIT:
        blocks.append(_wait_actions(definition, task))
    elif voted is not None:
        blocks.append(section(f"You {_DECIDED.get(voted.decision, voted.decision)} this; waiting for the others."))
    else:
        changes = _allows_changes(definition, task)
        blocks.append(task_buttons(task, allow_changes=changes, labels=button_labels(definition, task)))
    return fit_blocks(blocks)


def _wait_actions(definition: WorkflowDefinition, task: Task) -> Block:
    """A wait asks nothing of its holder; the requester may ask for more time where the step allows it."""
    if definition.step(task.step_id).extend is None:
        return context("Nothing to do: this ends by itself, and the request goes on then.")
    return actions(button("Extend…", action_id=ACTION_EXTEND, value=task.id), block_id=f"task:{task.id}")


def _allows_changes(definition: WorkflowDefinition, task: Task) -> bool:
    return task.kind is StepKind.APPROVAL and definition.step(task.step_id).allow_changes


def button_labels(definition: WorkflowDefinition, task: Task) -> tuple[str, str]:
    """What an approval's two buttons say (the step's `approve_label` and `reject_label`)."""
    if task.kind is not StepKind.APPROVAL:
        return ("Approve", "Reject")
    step = definition.step(task.step_id)
    return (step.approve_label, step.reject_label)


def task_buttons(
    task: Task, *, allow_changes: bool = False, labels: tuple[str, str] = ("Approve", "Reject")
) -> Block:
    if task.kind is StepKind.REVISION:
        return actions(
            button("Edit and resubmit…", action_id=ACTION_EDIT_REQUEST, value=task.id, style="primary"),
            button("Withdraw the request", action_id=ACTION_WITHDRAW, value=task.id, style="danger"),
            block_id=f"task:{task.id}",
        )
    more = [("hand_over", "Hand over…"), ("comment", "Comment…")]
    if task.kind is StepKind.APPROVAL:
        if allow_changes:
            more.insert(0, ("request_changes", "Request changes…"))
        return actions(
            button(labels[0], action_id=ACTION_APPROVE, value=task.id, style="primary"),
            button(f"{labels[1]}…", action_id=ACTION_REJECT, value=task.id, style="danger"),
            _overflow(more),
            block_id=f"task:{task.id}",
        )
    return actions(
        button("Mark done", action_id=ACTION_COMPLETE, value=task.id, style="primary"),
        button("Done, with a note…", action_id=ACTION_COMPLETE_WITH_NOTE, value=task.id),
        _overflow(more),
        block_id=f"task:{task.id}",
    )


def _overflow(choices: list[tuple[str, str]]) -> Block:
    return {
        "type": "overflow",
        "action_id": ACTION_MORE,
        "options": [{"text": {"type": "plain_text", "text": label}, "value": value} for value, label in choices],
    }


def closed_task_blocks(definition: WorkflowDefinition, instance: Instance, task: Task) -> list[Block]:
    """The same DM after the task is closed: the outcome in place of the buttons."""
    blocks = _task_header_blocks(definition, instance, task)
    outcome = _TASK_OUTCOME.get(task.status, task.status.value)
    if task.status is TaskStatus.CANCELLED and not instance.status.is_finished:
        line = f"{_TASK_ICON[task.status]} *Not needed for now*: the request went back for changes."
    elif task.status is TaskStatus.CANCELLED:
        line = f"{_TASK_ICON[task.status]} *No longer needed*: {instance.title} is {instance.status.value}."
    elif task.kind is StepKind.WAIT:
        line = f":hourglass: *Time is up*{f' {when(task.acted_at)}' if task.acted_at else ''}."
    else:
        by = f" by <@{task.acted_by}>" if task.acted_by else ""
        at = f" {when(task.acted_at)}" if task.acted_at else ""
        line = f"{_TASK_ICON[task.status]} *{outcome}*{by}{at}"
    if task.comment:
        line += f"\n> {clip(escape_text(task.comment), 2500)}"
    blocks.append(section(line))
    return fit_blocks(blocks)


def receipt_blocks(definition: WorkflowDefinition, instance: Instance, *, in_channel: bool = False) -> list[Block]:
    """The requester's message (or the channel post) about a request, kept up to date in place."""
    work = [t for t in instance.tasks if t.kind is not StepKind.REVISION and t.status is not TaskStatus.CANCELLED]
    done = sum(1 for t in work if not t.status.is_open)
    waiting = [t for t in instance.open_tasks()]
    if instance.status.is_finished:
        by = f" by <@{instance.finished_by}>" if instance.finished_by else ""
        whose = f"<@{instance.requester}>'s request" if in_channel else "Your request"
        headline = f"{_STATUS_ICON[instance.status]} {whose} *{instance.title}* was *{instance.status.value}*{by}."
        if instance.outcome_reason:
            headline += f"\n> {clip(escape_text(instance.outcome_reason), 1000)}"
    else:
        whose = f"<@{instance.requester}> started" if in_channel else "Your request"
        headline = f":inbox_tray: {whose} *{instance.title}*" + ("." if in_channel else " is under way.")
    lines = [headline]
    if work or waiting:
        lines.append(f"*Progress*: {done} of {len(work)} task{'s' if len(work) != 1 else ''} done")
    for task in waiting:
        holders = ", ".join(f"<@{u}>" for u in task.assignees)
        if task.kind is StepKind.WAIT and task.due_at is not None:
            lines.append(f":hourglass_flowing_sand: {task.title} — until {when(task.due_at)}")
        else:
            lines.append(f":hourglass_flowing_sand: {task.title} — with {holders}")
    return fit_blocks(
        [
            section("\n".join(lines), fields=form_summary(definition, instance)),
            context(f"Follow it with `/workflow status {instance.id}`; cancel with `/workflow cancel {instance.id}`."),
        ]
    )


def decision_note(task: Task) -> str:
    """One line for the request's thread: who decided what."""
    outcome = _TASK_OUTCOME.get(task.status, task.status.value).lower()
    who = f"<@{task.acted_by}>" if task.acted_by else "Baton"
    text = f"{_TASK_ICON.get(task.status, '')} {who}: *{task.title}* — {outcome}"
    return text + (f"\n> {clip(escape_text(task.comment), 1000)}" if task.comment else "")


def revision_view(definition: WorkflowDefinition, instance: Instance, task_id: str) -> dict[str, object]:
    """The start form again, filled with the current values, to resubmit after a change request."""
    view = start_form_view(definition, origin_channel=None, initial=instance.form, files_kept=True)
    return {**view, "callback_id": CALLBACK_RESUBMIT, "private_metadata": task_id, "submit": plain("Resubmit", 24)}


def finished_blocks(definition: WorkflowDefinition, instance: Instance) -> list[Block]:
    """The requester's news that their request is finished, and how."""
    icon = _STATUS_ICON[instance.status]
    by = f" by <@{instance.finished_by}>" if instance.finished_by else ""
    text = f"{icon} *{instance.title}* was *{instance.status.value}*{by}."
    if instance.outcome_reason:
        text += f"\n> {clip(escape_text(instance.outcome_reason), 2500)}"
    return [
        section(text),
        context(f"Full history: `/workflow status {instance.id}`"),
        *rating_blocks(definition, instance),
    ]


def status_blocks(
    definition: WorkflowDefinition, instance: Instance, trail: Sequence[AuditEntry] | None = None
) -> list[Block]:
    """One instance: its state, each step and who holds it, and (for those allowed) its history."""
    blocks: list[Block] = [
        header(f"{instance.title}"),
        section(
            f"{_STATUS_ICON[instance.status]} *{instance.status.value.capitalize()}* · requested by "
            f"<@{instance.requester}> {when(instance.created_at)}",
            fields=form_summary(definition, instance),
        ),
        divider(),
    ]
    for step in definition.all_steps():
        if step.type is StepKind.NOTIFY:
            continue
        task = instance.latest_task(step.id)  # after changes were requested, the round now under way
        if task is None:  # never opened: its title filled from the form, as it would have been
            title = render_template(step.shown_title, template_values(definition, instance, SLACK_WORDING))
            blocks.append(context(f":white_circle: {title} — not reached"))
        elif task.status is TaskStatus.OPEN and task.kind is StepKind.WAIT:
            until = f" until {when(task.due_at)}" if task.due_at else ""
            blocks.append(section(f":hourglass_flowing_sand: *{task.title}* — waiting{until}"))
        elif task.status is TaskStatus.OPEN:
            holders = ", ".join(f"<@{u}>" for u in task.assignees)
            due = f", due {when(task.due_at)}" if task.due_at else ""
            blocks.append(section(f"{_TASK_ICON[task.status]} *{task.title}* — waiting for {holders}{due}"))
        else:
            by = f" by <@{task.acted_by}>" if task.acted_by else ""
            blocks.append(section(f"{_TASK_ICON[task.status]} *{task.title}* — {task.status.value}{by}"))
    refused = sum(1 for entry in trail or () if entry.kind == "action_refused")
    # Refusals are in the log and the export; so are ratings, which are for the workflow's owners in their
    # reports, not for the approvers who can see this view.
    trail = [entry for entry in trail or () if entry.kind not in ("action_refused", "request_rated")]
    if trail:
        blocks.append(divider())
        history = audit_blocks(trail, {task.step_id: task.title for task in instance.tasks})  # as rendered
        if refused:
            history.insert(0, context(f"{refused} refused attempt(s) are in the audit export, not shown here."))
        room = MESSAGE_BLOCKS_LIMIT - len(blocks)
        if len(history) > room:  # a very long history: keep its newest lines, which matter most
            shown = history[len(history) - room + 1 :]
            history = [context(f"…{len(history) - len(shown)} earlier part(s) of the history not shown."), *shown]
        blocks.extend(history)
    return fit_blocks(blocks)


def audit_blocks(trail: Sequence[AuditEntry], step_titles: Mapping[str, str] | None = None) -> list[Block]:
    """The event log as compact lines, newest last; steps named by their titles where known."""
    lines = []
    titles = step_titles or {}
    for entry in trail:
        who = f"<@{entry.actor}> " if entry.actor else ""
        said = entry.data.get("comment") or entry.data.get("reason")
        step = entry.data.get("step")
        # what a person wrote is escaped; a task title is Baton's own rendered text (values already escaped)
        detail = escape_text(str(said)) if said else clip(titles.get(str(step), str(step or "")), 200)
        phrase = history_phrase(entry.kind, entry.data.get("trigger"))
        files = entry.data.get("files")
        if isinstance(files, list):  # what was attached at the start, or attached instead in a resubmission
            links = ", ".join(_file_link(file) for file in files if isinstance(file, dict))
            detail = (f"{detail} · " if detail else "") + (f"attached {links}" if links else "attachments removed")
        lines.append(f"{when(entry.at)} · {who}{phrase}" + (f" · {detail}" if detail else ""))
    chunks: list[Block] = []
    text = "*History*"
    for line in lines:
        if len(text) + len(line) + 1 > 2900:
            chunks.append(section(text))
            text = ""
        text += "\n" + line
    chunks.append(section(text))
    return chunks


def task_list_blocks(tasks: Sequence[tuple[WorkflowDefinition, Instance, Task]]) -> list[Block]:
    """My open tasks, each with its buttons."""
    if not tasks:
        return [section(":tada: You have no open tasks.")]
    blocks: list[Block] = [header(f"Your open tasks ({len(tasks)})")]
    for definition, instance, task in tasks[:15]:
        due = f" · due {when(task.due_at)}" if task.due_at else ""
        blocks.append(section(f"*{task.title}*\n{instance.title} from <@{instance.requester}>{due}"))
        blocks.append(task_buttons(task, labels=button_labels(definition, task)))
    if len(tasks) > 15:
        blocks.append(context(f"…and {len(tasks) - 15} more."))
    return fit_blocks(blocks)


def workflow_list_blocks(definitions: Sequence[WorkflowDefinition]) -> list[Block]:
    """What this person can start."""
    if not definitions:
        return [section("There are no workflows you can start.")]
    blocks: list[Block] = [header("Workflows you can start")]
    for definition in definitions:
        blocks.append(
            section(f"*{definition.title}* — `/workflow start {definition.name}`\n{definition.description}".strip())
        )
    return fit_blocks(blocks)


def requests_blocks(instances: Sequence[Instance]) -> list[Block]:
    """My recent requests and where each stands."""
    if not instances:
        return [section("You have not requested anything yet. Try `/workflow list`.")]
    blocks: list[Block] = [header("Your requests")]
    for instance in instances:
        waiting = [t for t in instance.tasks if t.status is TaskStatus.OPEN]
        holders = ", ".join(sorted({f"<@{u}>" for t in waiting for u in t.assignees}))
        line = f"{_STATUS_ICON[instance.status]} *{instance.title}* — {instance.status.value}"
        if waiting:
            line += f", waiting for {holders}"
        blocks.append(section(line))
    blocks.append(context("Details: `/workflow status &lt;number&gt;`"))
    return fit_blocks(blocks)


def help_text() -> str:
    return (
        "*Baton* runs your team's workflows.\n"
        "• `/workflow list` — what you can start\n"
        "• `/workflow start &lt;name&gt;` — start one (opens its form)\n"
        "• `/workflow tasks` — your open tasks, with buttons\n"
        "• `/workflow status` — your requests; `/workflow status &lt;number&gt;` — one request and its history\n"
        "• `/workflow cancel &lt;number&gt; [reason]` — cancel a request you made\n"
        "• `/workflow delegate @someone until 2026-12-24` — send your new tasks to a colleague while away; "
        "`/workflow delegate off` to end it\n"
        "• `/workflow report [workflow] [30d|12w|2026-Q4]` and `/workflow export …` — KPIs with a chart, "
        "or CSV files (workflow owners and admins); `/workflow map &lt;workflow&gt; [period]` — the process as a "
        "picture, with each step's load\n"
        "• `/workflow help` — this message"
    )


ACTION_SNOOZE = "task_snooze"
ACTION_REASSIGN = "task_reassign"
PERMALINK_BLOCK = "permalink"  # the context block whose line ends in the link to the task's own message
_LEGACY_PERMALINK = " · <{{permalink}}|Open the original request>"  # how rows queued before schema 8 said so
_SNOOZE_CHOICES = (("1h", "1 hour"), ("tomorrow", "Tomorrow morning"), ("next_week", "Next week"))


def how_long(span: timedelta) -> str:
    """A duration as people say it: `2 days 3 hours`, `45 minutes`."""
    minutes = max(0, int(span.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n
    ]
    return " ".join(parts[:2]) or "less than a minute"


def snooze_menu(task: Task) -> Block:
    return {
        "type": "static_select",
        "action_id": ACTION_SNOOZE,
        "placeholder": {"type": "plain_text", "text": "Snooze"},
        "options": [
            {"text": {"type": "plain_text", "text": label}, "value": value} for value, label in _SNOOZE_CHOICES
        ],
    }


def reminder_blocks(
    definition: WorkflowDefinition, instance: Instance, task: Task, overdue_by: timedelta | None
) -> list[Block]:
    """A nudge about an open task: when it is due, its buttons, a snooze menu and a link to the request."""
    if task.kind is StepKind.WAIT:
        return _wait_reminder_blocks(definition, instance, task)
    if overdue_by is not None and overdue_by > timedelta(0):
        lead = f":alarm_clock: *Overdue by {how_long(overdue_by)}*: {task.title}"
    elif task.due_at is not None:
        lead = f":bell: *Reminder*: {task.title} is due {when(task.due_at)}"
    else:
        lead = f":bell: *Reminder*: {task.title}"
    buttons = task_buttons(task, labels=button_labels(definition, task))
    buttons = {**buttons, "elements": [*buttons["elements"], snooze_menu(task)]}
    return fit_blocks(
        [
            section(lead, fields=form_summary(definition, instance)),
            {**context(f"{instance.title} from <@{instance.requester}>"), "block_id": PERMALINK_BLOCK},
            buttons,
        ]
    )


def _wait_reminder_blocks(definition: WorkflowDefinition, instance: Instance, task: Task) -> list[Block]:
    ends = f" ends {when(task.due_at)}" if task.due_at else " ends soon"
    return fit_blocks(
        [
            section(f":hourglass: *{task.title}*{ends}.", fields=form_summary(definition, instance)),
            {**context(f"{instance.title} · `/workflow status {instance.id}`"), "block_id": PERMALINK_BLOCK},
            _wait_actions(definition, task),
        ]
    )


def extension_note(wait: Task, extension: Task, *, approved: bool) -> str:
    """What the requester hears when an approver decided on more time."""
    by = f"<@{extension.acted_by}>" if extension.acted_by else "Baton"
    ends = when(wait.due_at) if wait.due_at else "soon"
    days = extension.extension.days if extension.extension else 0
    if approved:
        return f":white_check_mark: {by} extended *{wait.title}* by {days} days: it now ends {ends}."
    said = f"\n> {clip(escape_text(extension.comment), 1000)}" if extension.comment else ""
    return f":x: {by} did not extend *{wait.title}*; it still ends {ends}.{said}"


def escalation_blocks(
    definition: WorkflowDefinition, instance: Instance, task: Task, overdue_by: timedelta, *, may_act: bool
) -> list[Block]:
    """Tell someone higher up what is stuck, for how long, who holds it; let them reassign (or act)."""
    holders = ", ".join(f"<@{user}>" for user in task.assignees)
    blocks: list[Block] = [
        section(f"*Stuck: {task.title}*"),
        section(
            f":rotating_light: *{instance.title}* from <@{instance.requester}> has waited "
            f"*{how_long(overdue_by)}* past its due time with {holders}.",
            fields=form_summary(definition, instance),
        ),
        actions(
            {
                "type": "users_select",
                "action_id": ACTION_REASSIGN,
                "placeholder": {"type": "plain_text", "text": "Reassign to…"},
            },
            block_id=f"reassign:{task.id}",
        ),
    ]
    if may_act:
        blocks.append(task_buttons(task, labels=button_labels(definition, task)))
    if may_act:
        blocks.append(context(f"Request #{task.instance_id} · act on it with the buttons above, or hand it on."))
    else:
        blocks.append(context(f"Request #{task.instance_id} · pick who should take it over."))
    return fit_blocks(blocks)


def handed_over_blocks(
    definition: WorkflowDefinition, instance: Instance, task: Task, *, by: str | None, note: str | None
) -> list[Block]:
    """The previous holder's copy of a task after it moved to someone else."""
    blocks = _task_header_blocks(definition, instance, task)
    new = ", ".join(f"<@{user}>" for user in task.assignees)
    line = f":arrow_right: *Reassigned* to {new}" + (f" by <@{by}>" if by else " automatically at the deadline")
    if note:
        line += f"\n> {clip(escape_text(note), 2500)}"
    blocks.append(section(line))
    return fit_blocks(blocks)


def digest_blocks(plan: DigestPlan, instances: Mapping[int, Instance], now: datetime) -> list[Block]:
    """The morning digest: my open tasks, oldest first; for managers, their team's overdue items."""
    blocks: list[Block] = [header(f"Your open tasks ({len(plan.own)})")] if plan.own else []
    for item in plan.own[:20]:
        blocks.append(section(_digest_line(item, instances, now)))
    if plan.team_overdue:
        blocks.append(divider())
        blocks.append(header(f"Overdue in your team ({len(plan.team_overdue)})"))
        for item in plan.team_overdue[:20]:
            blocks.append(section(f"<@{item.user_id}>: " + _digest_line(item, instances, now)))
    blocks.append(context("Sent once each working morning. `/workflow tasks` shows your tasks with their buttons."))
    return fit_blocks(blocks)


def _digest_line(item: Assignment, instances: Mapping[int, Instance], now: datetime) -> str:
    instance = instances.get(item.instance_id)
    task = instance.task(item.task_id) if instance else None
    title = task.title if task else item.task_id
    where = instance.title if instance else f"request #{item.instance_id}"
    if item.due_at is not None and item.due_at < now:
        due = f" · :alarm_clock: overdue by {how_long(now - item.due_at)}"
    elif item.due_at is not None:
        due = f" · due {when(item.due_at)}"
    else:
        due = ""
    return f"*{title}* — {where}, waiting {how_long(now - item.created_at)}{due}"


def delegated_note(effect: TaskDelegated, instance: Instance) -> str:
    """What an absent person reads when a new task of theirs went to their delegate."""
    return f"While you are away, “{effect.task_title}” ({instance.title}) went to your delegate <@{effect.delegate}>."


def fill_permalink(args: dict[str, Any], link: str | None) -> dict[str, Any]:
    """End a message's link line with the link to the original request, or, without one, say where it is."""
    shown = link.replace('"', "%22") if link else None
    tail = f" · <{shown}|Open the original request>" if shown else " · the original request above"
    return {**args, "blocks": [_with_tail(block, tail) for block in args.get("blocks") or ()]}


def legacy_permalink_line(args: dict[str, Any]) -> dict[str, Any]:
    """A message queued before schema 8 marked its link line with a placeholder: mark it as a link line now."""
    return {**args, "blocks": [_link_line_marked(block) for block in args.get("blocks") or ()]}


def _link_line_marked(block: Any) -> Any:
    elements = block.get("elements") if isinstance(block, dict) and block.get("type") == "context" else None
    if not isinstance(elements, list) or not elements or not isinstance(elements[-1], dict):
        return block
    *first, last = elements
    text = str(last.get("text", ""))
    if not text.endswith(_LEGACY_PERMALINK):
        return block
    marked = {**last, "text": text.removesuffix(_LEGACY_PERMALINK)}
    return {**block, "elements": [*first, marked], "block_id": PERMALINK_BLOCK}


def _with_tail(block: Any, tail: str) -> Any:
    if not isinstance(block, dict) or block.get("block_id") != PERMALINK_BLOCK or not block.get("elements"):
        return block
    *first, last = block["elements"]
    return {**block, "elements": [*first, {**last, "text": f"{last['text']}{tail}"}]}
