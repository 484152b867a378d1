"""The store's interface, one protocol a concern, so that SQLite and PostgreSQL answer the same calls."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from bot.engine import Event, Instance, Task, WorkflowDefinition
from bot.engine.digest import Assignment
from bot.engine.kpi_facts import FinishedRequest, SpanGroup, TaskFact
from bot.engine.kpi_sums import KpiSums
from bot.engine.kpis import Period
from bot.engine.purged import PurgedTally
from bot.engine.satisfaction import RatingRow
from bot.engine.timers import Timer
from bot.pacing import Limit

from .records import (
    ApiOrigin,
    AuditEntry,
    DueTimer,
    ErasedRows,
    MessageRef,
    OutboxMessage,
    PendingMessage,
    PurgedRows,
    Redaction,
    SendingPause,
    StepExecution,
)
from .report_facts import ChunkFacts
from .reporting import EventExport, InstanceExport, OpsSnapshot
from .rows import TimerChange

__all__ = [
    "ApiRequests",
    "Delegations",
    "Digests",
    "Erasure",
    "FunctionExecutions",
    "History",
    "HomeViewers",
    "Outbox",
    "Reports",
    "Requests",
    "Retention",
    "SeenRequests",
    "SendingPauses",
    "SlackMessages",
    "Store",
    "Timers",
    "UnitOfWork",
]


class Requests(Protocol):
    """Workflow definitions, requests (instances) and their tasks."""

    async def next_instance_id(self) -> int: ...

    async def save_definition(self, definition: WorkflowDefinition, now: datetime) -> None: ...

    async def definition(self, version: str) -> WorkflowDefinition | None: ...

    async def instance(self, instance_id: int) -> Instance | None: ...

    async def instances(self, instance_ids: Collection[int]) -> dict[int, Instance]:
        """Several instances by id, in one query (as `instance` loads one: locked where that locks)."""
        ...

    async def instance_of_task(self, task_id: str) -> Instance | None: ...

    async def instances_of_tasks(self, task_ids: Collection[str]) -> dict[str, Instance]:
        """The instance of each task that exists, in one query (locked as `instance_of_task` locks one)."""
        ...

    async def save_instance(self, instance: Instance) -> None: ...

    async def save_instances(self, instances: Sequence[Instance]) -> None:
        """Save these states in order: the same rows as `save_instance` on each in turn, in a few statements."""
        ...

    async def open_tasks_of(self, user_id: str, *, limit: int = 50) -> list[Task]: ...

    async def instances_requested_by(self, user_id: str, *, limit: int = 20) -> list[Instance]: ...

    async def open_assignments(self) -> list[Assignment]: ...


class History(Protocol):
    """Each request's event log, appended to and never rewritten."""

    async def append_events(self, instance_id: int, events: Sequence[Event]) -> None: ...

    async def append_history(self, lines: Sequence[tuple[int, Event]]) -> None:
        """Append (instance id, event) lines to several histories, in this order, in one statement."""
        ...

    async def audit_trail(self, instance_id: int) -> list[AuditEntry]: ...


class Timers(Protocol):
    """Reminders, escalations and deadlines waiting for their time."""

    async def add_timers(self, instance_id: int, timers: Sequence[Timer]) -> None: ...

    async def cancel_timers(
        self, task_id: str, *, recipient: str | None = None, reminders_only: bool = False
    ) -> None: ...

    async def apply_timer_changes(self, changes: Sequence[TimerChange]) -> None:
        """Apply transitions' AddTimers and CancelTimers effects with the outcome of `add_timers` and
        `cancel_timers` called in this order (a timer added and then cancelled here is stored cancelled)."""
        ...

    async def claim_due_timers(self, now: datetime, *, limit: int) -> list[DueTimer]:
        """Mark up to `limit` due timers fired in this transaction and return them, soonest due first."""
        ...

    async def pending_timers(self, task_id: str) -> list[DueTimer]: ...

    async def mark_timer_failed(self, timer_id: int) -> None: ...


class Outbox(Protocol):
    """Slack calls queued with the change that caused them, and what became of each."""

    async def enqueue(self, messages: Sequence[OutboxMessage], now: datetime) -> None: ...

    async def due_outbox(self, now: datetime, *, limit: int, exclude: Collection[int] = ()) -> list[PendingMessage]: ...

    async def has_pending_post(self, message_key: str, before_id: int) -> bool: ...

    async def mark_sent(self, outbox_id: int, now: datetime, ref: MessageRef | None) -> None: ...

    async def mark_retry(
        self, outbox_id: int, next_attempt_at: datetime, error: str, *, count: bool = True
    ) -> None: ...

    async def mark_failed(self, outbox_id: int, error: str) -> None: ...

    async def outbox_depth(self) -> int: ...

    async def supersede_pending(self, conversation: str, method: str, after_id: int, now: datetime) -> int:
        """Settle the pending `method` rows of `conversation` queued after `after_id`, because the message being
        sent now is rendered from the current state and so covers them; return how many."""
        ...

    async def take_send_token(self, key: str, now: datetime, limit: Limit) -> float:
        """Take a token from the shared bucket `key` (bot/pacing.py); return 0.0, or the seconds to wait."""
        ...


class SlackMessages(Protocol):
    """Where each message Baton posted lives in Slack."""

    async def message_ref(self, message_key: str) -> MessageRef | None: ...

    async def message_key_at(self, channel: str, ts: str) -> str | None: ...


class SeenRequests(Protocol):
    """Slack requests already handled, so that Slack's retries are handled once."""

    async def seen(self, request_key: str) -> bool:
        """Whether a Slack request (an event_id, a view id) has been recorded as handled."""
        ...

    async def first_sighting(self, request_key: str, now: datetime) -> bool: ...

    async def sighted_at(self, request_key: str) -> datetime | None:
        """When a key was first sighted (None: never)."""
        ...

    async def forget_sighting(self, request_key: str) -> None:
        """Undo a first sighting whose work failed, so that the next attempt counts as the first."""
        ...


class SendingPauses(Protocol):
    """Sending held back for the whole workspace while Slack refuses Baton's token."""

    async def sending_pause(self) -> SendingPause | None: ...

    async def pause_sending(self, reason: str, now: datetime, *, notices: Sequence[str] = ()) -> bool:
        """Pause (true) or keep the pause already recorded, with its first time (false). The first reason is
        kept too, unless this one is among `notices` (Slack's own word for the cause, such as `app_uninstalled`)
        and the recorded one is not (a refused call's error, such as `invalid_auth`)."""
        ...

    async def resume_sending(self) -> SendingPause | None:
        """End the pause; the one that was, or None when sending was not paused."""
        ...


class FunctionExecutions(Protocol):
    """Workflow Builder steps waiting on a request: Slack's execution id and the request it became."""

    async def claim_function_execution(self, execution: StepExecution, instance_id: int | None, now: datetime) -> bool:
        """Record an execution the first time Slack sends it; False for Slack's retry of one already recorded."""
        ...

    async def function_executions_of(self, instance_ids: Collection[int]) -> dict[int, StepExecution]:
        """The step each of these requests answers, if a Workflow Builder step started it and its completion is
        not queued yet, in one query (requests without one are left out)."""
        ...

    async def mark_function_completing(self, execution_id: str, now: datetime) -> None: ...


class HomeViewers(Protocol):
    """Who has opened Baton's Home tab."""

    async def note_home_opened(self, user_id: str, now: datetime) -> None: ...

    async def home_viewers(self, user_ids: Collection[str]) -> set[str]:
        """Those of `user_ids` who have opened Baton's Home tab."""
        ...


class Digests(Protocol):
    """The daily digests already sent."""

    async def first_digest(self, user_id: str, local_date: str, now: datetime) -> bool: ...


class Delegations(Protocol):
    """Who acts for whom while they are away."""

    async def active_delegations(self, now: datetime) -> dict[str, str]: ...

    async def set_delegation(self, user_id: str, delegate: str, starts_at: datetime, ends_at: datetime) -> None: ...

    async def end_delegation(self, user_id: str, now: datetime) -> bool: ...


class Reports(Protocol):
    """Reports, exports and metrics (the portable SQL is in reporting.py)."""

    async def chunk_facts(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> ChunkFacts: ...

    async def open_task_facts(self, until: datetime, *, workflows: Sequence[str] | None = None) -> list[TaskFact]: ...

    async def flow_facts(
        self,
        since: datetime,
        until: datetime,
        *,
        workflows: Sequence[str] | None = None,
        rated_workflows: Collection[str] = (),
    ) -> list[FinishedRequest]: ...

    async def span_facts(
        self,
        period_start: datetime,
        period_end: datetime,
        *,
        first: datetime,
        as_of: datetime,
        workflows: Sequence[str] | None = None,
    ) -> list[SpanGroup]: ...

    async def report_sums(
        self,
        period: Period,
        *,
        now: datetime,
        workflows: Sequence[str] | None = None,
        teams: Mapping[str, tuple[str, ...]] | None = None,
        rated_workflows: Collection[str] = (),
        flow: bool = True,
    ) -> KpiSums:
        """A report's sums over its whole period (bot/store/report_sums.py), for a period with no purged tallies."""
        ...

    async def purged_tallies(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[PurgedTally]:
        """What requests purged for retention left to reports, for the UTC days that begin in [since, until)."""
        ...

    async def rating_rows(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[RatingRow]: ...

    async def export_instances(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[InstanceExport]: ...

    async def export_events(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[EventExport]: ...

    async def ops_snapshot(self) -> OpsSnapshot: ...


class Retention(Protocol):
    """Finished requests past RETENTION_DAYS, and the tallies that keep their part of the reports."""

    async def claim_expired_requests(self, finished_before: datetime, *, limit: int) -> list[int]:
        """Up to `limit` requests finished before then with no message still to send, oldest first (locked for this
        transaction where processes share the database; others pass over them)."""
        ...

    async def purged_rows(self, instance_ids: Sequence[int]) -> PurgedRows: ...

    async def add_purged_tallies(self, tallies: Sequence[PurgedTally]) -> None:
        """Add these to the tallies of their workflow, step, measure and day."""
        ...

    async def delete_requests(self, instance_ids: Sequence[int]) -> dict[str, int]:
        """Delete the requests and what they own (but messages still to send); rows deleted per kind."""
        ...


class Erasure(Protocol):
    """A person's id, name and email rewritten wherever they are stored (`python -m bot forget`)."""

    async def pseudonym_secret(self, candidate: str) -> str:
        """The database's secret for pseudonyms: `candidate` the first time it is asked for, the same ever after."""
        ...

    async def erase_person(self, user_id: str, redaction: Redaction, reason: str) -> ErasedRows:
        """Rewrite every row that names the person with `redaction`; pending messages to them fail with `reason`."""
        ...


class ApiRequests(Protocol):
    """Requests started over the API: which token started each, its callback, its idempotency key."""

    async def record_api_origin(self, origin: ApiOrigin) -> None: ...

    async def api_origin(self, instance_id: int) -> ApiOrigin | None: ...

    async def api_origins(self, instance_ids: Collection[int]) -> dict[int, ApiOrigin]:
        """`api_origin` for several requests, in one query (requests not started over the API are left out)."""
        ...

    async def api_origin_by_key(self, token: str, idempotency_key: str) -> ApiOrigin | None: ...


class UnitOfWork(
    Requests,
    History,
    Timers,
    Outbox,
    SlackMessages,
    SeenRequests,
    SendingPauses,
    FunctionExecutions,
    HomeViewers,
    Digests,
    Delegations,
    Reports,
    ApiRequests,
    Retention,
    Erasure,
    Protocol,
):
    """Everything done inside one transaction; it commits on leaving the block, or rolls back on error."""

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested unit: undo just this part on error, keep the rest of the transaction."""
        ...


class Store(Protocol):
    """A database that Baton keeps all its state in."""

    @property
    def outbox_lease(self) -> timedelta | None:
        """How long a claim on an outbox message holds other processes off (None: one process, no claims)."""
        ...

    @property
    def writers_at_once(self) -> int:
        """How many units of work that write are worth running at once in this process: 1 where writes are
        serialised anyway (SQLite), more where row locks let them run side by side (PostgreSQL)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        """One unit of work. `read_only`: it only reads (a screen, a report), so it locks no rows and blocks
        nobody's decision; a write inside it fails."""
        ...

    def reading(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only unit of work that sees one snapshot of the database and holds no other unit of work up,
        however long it reads (a report over a year): SQLite reads through a connection of its own (WAL lets it
        read while the store's connection writes), PostgreSQL in a REPEATABLE READ, READ ONLY transaction."""
        ...
