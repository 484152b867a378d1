"""The store's promises on SQLite and PostgreSQL, and what lets several processes share one PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import yaml

from bot.catalog import load_catalog
from bot.clock import OffsetClock
from bot.engine import AddTimers, CancelTimers, Instance, Named, TaskStatus, Timer, TimerKind, Typed, Written, worded
from bot.migrate import migrate, migrate_data, schema_version, tables
from bot.pacing import CONVERSATION_LIMIT
from bot.service import Acted, Started, WorkflowService
from bot.slack.outgoing import BlockKitRenderer
from bot.slack.wording import shown
from bot.store import DueTimer, OutboxMessage, PostgreSQLStore, SQLiteStore, Store, StoreError, store_for
from bot.store.rows import outbox_row
from bot.store.schema import SCHEMA_VERSION, migration_statements
from bot.workspace import Workspace

from .conftest import ADMIN
from .databases import UNDO_15, fresh_postgres
from .story import ALWAYS_OPEN, copy_workflows, manager_approval

PROJECT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday morning
ALICE, BOB, MARIA = "U0ALICE", "U0BOB", "U0MARIA"
TIMED = manager_approval("timed", due="1m", escalate_after="1m")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = store_for(database_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database at the current schema."""
    async with fresh_postgres() as url:
        await migrate(url)
        yield url


@pytest.fixture
async def two_processes(postgres_url: str) -> AsyncIterator[tuple[PostgreSQLStore, PostgreSQLStore]]:
    """Two stores on one database, as two Baton processes would open them, with a 30-second outbox lease."""
    first = PostgreSQLStore(postgres_url, owner="first", outbox_lease=timedelta(seconds=30))
    second = PostgreSQLStore(postgres_url, owner="second", outbox_lease=timedelta(seconds=30))
    await first.open()
    await second.open()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def service(store: Store, tmp_path: Path) -> WorkflowService:
    workflows = copy_workflows(tmp_path / "workflows", timed=TIMED)
    org = workflows / "org.yaml"
    org.write_text(yaml.safe_dump(yaml.safe_load(org.read_text()) | {"calendar": ALWAYS_OPEN}))
    catalog = load_catalog(workflows)
    workspace = Workspace(store, catalog, admins=(ADMIN,), clock=OffsetClock(start=NOW))
    return WorkflowService(workspace, renderer=BlockKitRenderer())


async def start_timed(work_service: WorkflowService, count: int) -> list[int]:
    ids = []
    for number in range(count):
        outcome = await work_service.start("timed", (ALICE, BOB)[number % 2], {"item": f"item {number}"})
        assert isinstance(outcome, Started), outcome
        ids.append(outcome.instance.id)
    return ids


# ---- on both databases ------------------------------------------------------------------------------------


async def test_a_fresh_database_is_at_the_current_schema_and_request_numbers_start_at_one(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    assert await schema_version(database_url) == SCHEMA_VERSION
    assert await start_timed(service(store, tmp_path), 3) == [1, 2, 3]


async def test_a_request_stored_with_its_task_titles_as_slack_markup_loads_them_as_facts_shown_the_same(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    # Before titles were facts, Baton stored each task title as Slack mrkdwn: people as mentions, typed text
    # escaped, an owner's link as written.
    (instance_id,) = await start_timed(service(store, tmp_path), 1)
    async with store.transaction(read_only=True) as work:
        instance = await work.instance(instance_id)
    assert instance is not None
    task_id = instance.tasks[0].id
    markup = "Check <@U0ALICE>'s a &lt;b&gt; &amp;amp; co, see <https://wiki.example.com|the wiki>"
    older = json.loads(instance.model_dump_json())
    older["tasks"][0]["title"] = markup
    stored = json.dumps(older).replace("'", "''")
    await run_sql(database_url, f"UPDATE instances SET state = '{stored}' WHERE id = {instance_id}")
    async with store.transaction() as work:
        loaded = [await work.instance(instance_id), await work.instance_of_task(task_id)]
        loaded += [*(await work.instances([instance_id])).values(), *await work.instances_requested_by(ALICE)]
        again = loaded[0]
        assert again is not None
        await work.save_instance(again)
    for read in loaded:
        assert read is not None
        title = read.tasks[0].title
        assert title == worded(
            Typed(typed="Check "), Named(user="U0ALICE"), Typed(typed="'s a <b> &amp; co, see "),
            Written(written="<https://wiki.example.com|the wiki>"),
        )  # fmt: skip
        assert shown(title) == markup  # Slack shows it as before
    (state,) = await run_sql(database_url, f"SELECT state FROM instances WHERE id = {instance_id}")
    assert '"parts"' in str(state[0]) and markup not in str(state[0])  # saved again in today's form


async def test_state_events_outbox_and_timers_are_saved_together(store: Store, tmp_path: Path) -> None:
    (instance_id,) = await start_timed(service(store, tmp_path), 1)
    async with store.transaction() as work:
        instance = await work.instance(instance_id)
        assert instance is not None and instance.tasks[0].assignees == (MARIA,)
        assert [entry.kind for entry in await work.audit_trail(instance_id)][0] == "instance_started"
        assert await work.outbox_depth() >= 2  # the requester's receipt and Maria's task
        assert {t.kind for t in await work.pending_timers(instance.tasks[0].id)} == {"remind_due", "escalate"}
        assert [task.id for task in await work.open_tasks_of(MARIA)] == [instance.tasks[0].id]


async def test_a_failed_unit_of_work_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as work:
            await work.enqueue([OutboxMessage("U1", "chat.postMessage", {"channel": "U1", "text": "x"})], NOW)
            raise RuntimeError("boom")
    async with store.transaction() as work:
        assert await work.outbox_depth() == 0


async def test_a_request_key_is_seen_first_only_once(store: Store) -> None:
    async with store.transaction() as work:
        assert await work.first_sighting("event:Ev1", NOW)
        assert not await work.first_sighting("event:Ev1", NOW)


async def test_the_outbox_offers_only_the_head_of_each_conversation(store: Store) -> None:
    messages = [OutboxMessage(c, "chat.postMessage", {"channel": c, "text": str(n)}) for n in range(3) for c in "AB"]
    async with store.transaction() as work:
        await work.enqueue(messages, NOW)
        heads = await work.due_outbox(NOW, limit=10)
    assert [(p.message.conversation, p.message.args["text"]) for p in heads] == [("A", "0"), ("B", "0")]
    async with store.transaction() as work:  # a head this process is sending already is passed over, not its next
        again = [p.id for p in await work.due_outbox(NOW, limit=10, exclude=[heads[0].id])]
    assert again == ([heads[1].id] if store.outbox_lease is None else [])  # PostgreSQL: both are leased already
    async with store.transaction() as work:
        await work.mark_sent(heads[0].id, NOW, None)
        await work.mark_retry(heads[1].id, NOW + timedelta(seconds=5), "paced", count=False)
    async with store.transaction() as work:
        later = await work.due_outbox(NOW, limit=10)
    assert [(p.message.conversation, p.message.args["text"]) for p in later] == [("A", "1")]  # B waits 5 s


async def test_migration_6_gives_the_events_already_written_their_workflow(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    await start_timed(service(store, tmp_path), 2)
    await store.close()
    downgrade = [  # back to schema 5, as a database written before migration 6 is
        *UNDO_15,
        "DROP INDEX instances_reported",  # 14
        "DROP INDEX events_by_task",
        "DROP INDEX events_by_kind",
        "CREATE INDEX events_by_kind ON events (kind, at)",
        "DELETE FROM schema_version WHERE version = 14",
        "DELETE FROM schema_version WHERE version = 13",  # 13 has no statement
        "DROP TABLE pseudonym_keys",  # 12
        "DROP TABLE retention_marks",
        "DROP INDEX instances_by_finish",
        "DROP INDEX outbox_by_instance",
        "DROP INDEX timers_by_instance",
        "DROP TABLE purged_tallies",
        "DELETE FROM schema_version WHERE version = 12",
        "DROP TABLE sending_pause",  # 11
        "DELETE FROM schema_version WHERE version = 11",
        "DROP TABLE api_requests",  # 10
        "DELETE FROM schema_version WHERE version = 10",
        "DROP TABLE function_executions",  # 9 (its index goes with it)
        "DELETE FROM schema_version WHERE version = 9",
        *(f"ALTER TABLE outbox DROP COLUMN {column}" for column in ("thread_of", "link_to", "render")),  # 8
        "DELETE FROM schema_version WHERE version = 8",
        "DROP TABLE send_pace",  # migration 7
        "DELETE FROM schema_version WHERE version = 7",
        "DROP INDEX events_by_workflow",
        "DROP INDEX tasks_by_instance",
        "ALTER TABLE events DROP COLUMN workflow",
        "DELETE FROM schema_version WHERE version = 6",
    ]
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            for sql in downgrade:
                db.execute(sql)
    else:
        connection = await asyncpg.connect(database_url)
        for sql in downgrade:
            await connection.execute(sql)
        await connection.close()
    assert await schema_version(database_url) == 5
    await migrate(database_url)
    reopened = store_for(database_url)
    await reopened.open()
    try:
        async with reopened.transaction() as work:
            facts = await work.chunk_facts(NOW - timedelta(days=1), NOW + timedelta(days=1), workflows=["timed"])
            assert sum(count for _, _, count in facts.started) == 2 and {row[0] for row in facts.started} == {"timed"}
    finally:
        await reopened.close()


async def test_a_read_only_unit_of_work_writes_nothing_and_waits_for_no_decision(store: Store, tmp_path: Path) -> None:
    (instance_id,) = await start_timed(service(store, tmp_path), 1)
    async with store.transaction() as work:
        depth = await work.outbox_depth()
    with pytest.raises((sqlite3.OperationalError, asyncpg.PostgresError)):  # read-only means it
        async with store.transaction(read_only=True) as work:
            await work.enqueue([OutboxMessage("U1", "chat.postMessage", {"channel": "U1", "text": "x"})], NOW)
    async with store.transaction() as work:
        assert await work.outbox_depth() == depth
    if store.outbox_lease is None:
        return  # SQLite runs one unit of work at a time; the rest is about PostgreSQL's row locks
    async with store.transaction() as deciding:
        assert await deciding.instance(instance_id) is not None  # held until this decision commits

        async def screen() -> int | None:
            async with store.transaction(read_only=True) as work:
                seen = await work.instance(instance_id)
                return seen.id if seen else None

        assert await asyncio.wait_for(screen(), 3) == instance_id  # a status screen does not wait for it


async def test_send_buckets_in_the_store_pace_every_process_that_shares_them(store: Store) -> None:
    later = NOW + timedelta(seconds=1)
    async with store.transaction() as work:
        waits = [await work.take_send_token("conversation D1", NOW, CONVERSATION_LIMIT) for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(1.0)
    async with store.transaction() as work:  # the bucket outlives the unit of work, as another process sees it
        assert await work.take_send_token("conversation D1", NOW, CONVERSATION_LIMIT) == pytest.approx(1.0)
        assert await work.take_send_token("conversation D2", NOW, CONVERSATION_LIMIT) == 0.0
        assert await work.take_send_token("conversation D1", later, CONVERSATION_LIMIT) == 0.0


async def test_each_due_timer_is_claimed_once(store: Store, tmp_path: Path) -> None:
    await start_timed(service(store, tmp_path), 4)
    async with store.transaction() as work:
        first = await work.claim_due_timers(NOW + timedelta(hours=1), limit=100)
    async with store.transaction() as work:
        again = await work.claim_due_timers(NOW + timedelta(hours=1), limit=100)
    assert len(first) == 8 and again == []


async def run_sql(database_url: str, statement: str) -> list[tuple[object, ...]]:
    """A statement on a connection of its own, as someone editing the database by hand would run it."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return [tuple(row) for row in db.execute(statement).fetchall()]
    connection = await asyncpg.connect(database_url)
    try:
        return [tuple(row) for row in await connection.fetch(statement)]
    finally:
        await connection.close()


def timer_effects(task_id: str, rng: random.Random, *, after: datetime) -> list[AddTimers | CancelTimers]:
    """A random run of timer effects on one task: timers added, and cancellations of all, some or one person's."""
    people = (MARIA, BOB, None)
    effects: list[AddTimers | CancelTimers] = []
    for _ in range(14):
        if rng.random() < 0.6:
            timers = tuple(
                Timer(
                    task_id,
                    rng.choice(list(TimerKind)),
                    after + timedelta(minutes=rng.randrange(1000)),
                    rng.choice(people),
                    rng.randrange(3),
                )
                for _ in range(rng.randint(1, 3))
            )
            effects.append(AddTimers(timers))
        else:
            effects.append(CancelTimers(task_id, recipient=rng.choice(people), reminders_only=rng.random() < 0.5))
    return effects


async def test_timer_effects_stored_together_leave_the_timers_that_one_at_a_time_leaves(
    store: Store, tmp_path: Path
) -> None:
    ids = await start_timed(service(store, tmp_path), 12)
    later = NOW + timedelta(days=2)  # after the timers the starts planned

    def shape(timers: list[DueTimer]) -> list[tuple[object, ...]]:
        return sorted((t.kind, t.recipient or "", t.level, t.due_at if t.due_at >= later else NOW) for t in timers)

    for seed, (one_by_one, together) in enumerate(zip(ids[0::2], ids[1::2], strict=True)):
        async with store.transaction() as work:
            for effect in timer_effects(f"{one_by_one}.check", random.Random(seed), after=later):
                if isinstance(effect, AddTimers):
                    await work.add_timers(one_by_one, effect.timers)
                else:
                    await work.cancel_timers(
                        effect.task_id, recipient=effect.recipient, reminders_only=effect.reminders_only
                    )
            effects = timer_effects(f"{together}.check", random.Random(seed), after=later)
            await work.apply_timer_changes([(together, effect) for effect in effects])
        async with store.transaction(read_only=True) as work:
            left = await work.pending_timers(f"{one_by_one}.check")
            right = await work.pending_timers(f"{together}.check")
        assert shape(left) == shape(right)


async def test_request_states_stored_together_leave_the_rows_that_one_at_a_time_leaves(
    store: Store, tmp_path: Path
) -> None:
    ids = await start_timed(service(store, tmp_path), 2)
    async with store.transaction(read_only=True) as work:
        started = await work.instances(ids)
    assert sorted(started) == ids

    def state(instance_id: int, **changes: object) -> Instance:
        instance = started[instance_id]
        return instance.model_copy(update={"tasks": (instance.tasks[0].model_copy(update=changes),)})

    due = NOW + timedelta(days=1)
    async with store.transaction() as work:  # both tasks due at the same moment, to compare them
        for instance_id in ids:
            await work.save_instance(state(instance_id, due_at=due))
    async with store.transaction(read_only=True) as work:
        started = await work.instances(ids)
    rounds: list[list[dict[str, object]]] = [
        [{"assignees": (BOB,)}],  # only the holders change: the stored task row is left as it was
        [{"assignees": (ALICE,), "due_at": due + timedelta(hours=1)}, {"assignees": (MARIA, BOB), "due_at": due}],
        [{"assignees": (MARIA, BOB), "status": TaskStatus.APPROVED, "acted_by": MARIA, "acted_at": NOW}],
    ]

    async def stored_tasks(instance_id: int) -> list[tuple[object, ...]]:
        """What the task rows say: who holds the request's open tasks, and until when."""
        async with store.transaction(read_only=True) as work:
            held = [(a.user_id, a.due_at) for a in await work.open_assignments() if a.instance_id == instance_id]
            listed = [
                (person, task.due_at)
                for person in (ALICE, BOB, MARIA)
                for task in await work.open_tasks_of(person)
                if task.instance_id == instance_id
            ]
        return sorted(held) + sorted(listed)

    one_by_one, together = ids
    for changes in rounds:
        async with store.transaction() as work:
            for change in changes:
                await work.save_instance(state(one_by_one, **change))
            await work.save_instances([state(together, **change) for change in changes])
        async with store.transaction(read_only=True) as work:
            saved = await work.instances(ids)
        left, right = saved[one_by_one].tasks[0], saved[together].tasks[0]
        assert (left.assignees, left.status, left.due_at) == (right.assignees, right.status, right.due_at)
        assert await stored_tasks(one_by_one) == await stored_tasks(together)


async def test_a_timer_that_cannot_be_fired_is_marked_failed_and_the_rest_of_its_batch_fires(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    work_service = service(store, tmp_path)
    ids = await start_timed(work_service, 5)  # a reminder and an escalation each
    broken = ids[2]
    await run_sql(database_url, f'UPDATE instances SET state = \'{{"not": "an instance"}}\' WHERE id = {broken}')
    later = OffsetClock(start=NOW + timedelta(hours=1))
    workspace = Workspace(store, work_service.catalog, admins=(ADMIN,), clock=later)
    sweep = WorkflowService(workspace, renderer=BlockKitRenderer())
    assert await sweep.timer_sweep.fire_due_timers() == 10
    fired = await run_sql(database_url, "SELECT instance_id, status FROM timers WHERE fired_at IS NOT NULL")
    assert Counter(fired) == Counter({(i, "failed" if i == broken else "fired"): 2 for i in ids})
    async with store.transaction(read_only=True) as work:
        for instance_id in ids:
            if instance_id != broken:
                kinds = [entry.kind for entry in await work.audit_trail(instance_id)]
                assert "reminder_sent" in kinds and "escalated" in kinds, kinds


async def test_start_up_refuses_a_schema_newer_than_the_code(store: Store, database_url: str) -> None:
    await store.close()
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    else:
        connection = await asyncpg.connect(database_url)
        await connection.execute("INSERT INTO schema_version (version) VALUES ($1)", SCHEMA_VERSION + 1)
        await connection.close()
    with pytest.raises(StoreError, match="newer than this Baton"):
        await store_for(database_url, auto_migrate=True).open()


async def test_start_up_on_an_older_schema_needs_migrate_and_says_so(tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'old.db'}"
    with pytest.raises(StoreError, match="run `python -m bot migrate`"):
        await store_for(sqlite_url, auto_migrate=False).open()
    old = SQLiteStore(tmp_path / "old.db", auto_migrate=True)
    await old.open()  # SQLite's one-process default: migrate at start
    await old.close()
    assert await schema_version(sqlite_url) == SCHEMA_VERSION


# ---- PostgreSQL: several processes, one database -------------------------------------------------------------


async def test_postgresql_is_not_migrated_at_start_unless_asked(tmp_path: Path) -> None:
    async with fresh_postgres() as url:
        with pytest.raises(StoreError, match="has no schema yet.*python -m bot migrate"):
            await store_for(url).open()
        connection = await asyncpg.connect(url)
        await connection.execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
        for version in range(1, SCHEMA_VERSION):  # one migration behind
            for statement in migration_statements(version, "postgresql"):
                await connection.execute(statement)
            await connection.execute("INSERT INTO schema_version VALUES ($1)", version)
        await connection.close()
        with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION - 1}, older than this Baton"):
            await store_for(url).open()
        assert await migrate(url) == f"{url}: migrated the schema from version {SCHEMA_VERSION - 1} to {SCHEMA_VERSION}"
        assert "nothing to do" in await migrate(url)
        await store_for(url).open()  # now it starts without AUTO_MIGRATE


async def test_the_migrate_command_and_a_refused_start_up_speak_plainly() -> None:
    async with fresh_postgres() as url:
        env = {
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": "xoxb-x",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
        }
        refused = subprocess.run(
            [sys.executable, "-m", "bot", "serve"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 3 and "python -m bot migrate" in refused.stderr
        assert "Traceback" not in refused.stderr
        done = subprocess.run(
            [sys.executable, "-m", "bot", "migrate"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert f"from version 0 to {SCHEMA_VERSION}" in done.stdout


async def test_two_processes_draining_one_outbox_send_each_message_once_in_order_per_conversation(
    two_processes: tuple[PostgreSQLStore, PostgreSQLStore],
) -> None:
    conversations = [f"U{n}" for n in range(8)]
    messages = [OutboxMessage(c, "chat.postMessage", {"channel": c, "n": n}) for n in range(12) for c in conversations]
    async with two_processes[0].transaction() as work:
        await work.enqueue(messages, NOW)
    claimed: Counter[int] = Counter()
    sent: dict[str, list[int]] = defaultdict(list)

    async def sender(store: PostgreSQLStore) -> None:
        while True:
            async with store.transaction() as work:
                due = await work.due_outbox(NOW, limit=5)
                depth = await work.outbox_depth()
            if not due and depth == 0:
                return
            for pending in due:
                claimed[pending.id] += 1
                await asyncio.sleep(random.uniform(0, 0.002))  # the Slack call
                sent[pending.message.conversation].append(pending.message.args["n"])
                async with store.transaction() as work:
                    await work.mark_sent(pending.id, NOW, None)

    await asyncio.gather(*(sender(store) for store in two_processes for _ in range(2)))
    assert len(claimed) == len(messages) and set(claimed.values()) == {1}  # no message claimed twice
    assert all(sent[c] == list(range(12)) for c in conversations)  # each conversation in order


async def test_the_claims_of_a_process_that_died_are_taken_over_when_their_lease_runs_out(
    two_processes: tuple[PostgreSQLStore, PostgreSQLStore], postgres_url: str
) -> None:
    first, second = two_processes
    async with first.transaction() as work:
        await work.enqueue([OutboxMessage(c, "chat.postMessage", {"channel": c}) for c in ("U1", "U2")], NOW)
        taken = await work.due_outbox(NOW, limit=10)  # ...and then the first process dies before sending
    async with second.transaction() as work:
        assert await work.due_outbox(NOW + timedelta(seconds=29), limit=10) == []  # still leased
        after = await work.due_outbox(NOW + timedelta(seconds=31), limit=10)
    assert [p.id for p in after] == [p.id for p in taken]
    connection = await asyncpg.connect(postgres_url)
    assert [tuple(row) for row in await connection.fetch("SELECT DISTINCT locked_by FROM outbox")] == [("second",)]
    await connection.close()


async def test_closing_a_store_hands_its_outbox_claims_back_at_once(postgres_url: str) -> None:
    leaving = PostgreSQLStore(postgres_url, owner="leaving")
    staying = PostgreSQLStore(postgres_url, owner="staying")
    await leaving.open()
    await staying.open()
    try:
        async with leaving.transaction() as work:
            await work.enqueue([OutboxMessage("U1", "chat.postMessage", {"channel": "U1"})], NOW)
            assert len(await work.due_outbox(NOW, limit=10)) == 1
        await leaving.close()
        async with staying.transaction() as work:
            assert len(await work.due_outbox(NOW, limit=10)) == 1
    finally:
        await staying.close()


async def test_two_sweeps_at_once_split_the_due_timers_between_them(postgres_url: str, tmp_path: Path) -> None:
    store = store_for(postgres_url)
    await store.open()
    try:
        await start_timed(service(store, tmp_path), 10)  # 20 timers: a reminder and an escalation each
        later = NOW + timedelta(hours=1)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def slow_sweep() -> list[int]:
            async with store.transaction() as work:
                claimed = await work.claim_due_timers(later, limit=6)
                holding.set()
                await release.wait()
            return [t.id for t in claimed]

        slow = asyncio.create_task(slow_sweep())
        await holding.wait()
        async with store.transaction() as work:  # does not wait for the slow sweep: it skips what that one holds
            fast = [t.id for t in await asyncio.wait_for(work.claim_due_timers(later, limit=100), 5)]
        release.set()
        first = await slow
        assert len(first) == 6 and not set(first) & set(fast)
        # The fast sweep also left alone the other timers of the instances the slow one held; they come next.
        async with store.transaction() as work:
            rest = [t.id for t in await work.claim_due_timers(later, limit=100)]
        assert sorted(first + fast + rest) == list(range(1, 21))
    finally:
        await store.close()


async def test_a_second_decision_on_the_same_request_waits_for_the_first(postgres_url: str, tmp_path: Path) -> None:
    store = store_for(postgres_url)
    await store.open()
    try:
        (instance_id,) = await start_timed(service(store, tmp_path), 1)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def first_decision() -> None:
            async with store.transaction() as work:
                assert await work.instance(instance_id) is not None
                holding.set()
                await release.wait()

        async def second_decision() -> None:
            async with store.transaction() as work:
                assert await work.instance_of_task(f"{instance_id}.check") is not None

        first = asyncio.create_task(first_decision())
        await holding.wait()
        second = asyncio.create_task(second_decision())
        done, _ = await asyncio.wait({second}, timeout=0.3)
        assert not done  # it waits for the first transaction's lock
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
    finally:
        await store.close()


async def test_the_same_slack_request_on_two_processes_is_seen_first_once(
    two_processes: tuple[PostgreSQLStore, PostgreSQLStore],
) -> None:
    async def sighting(store: PostgreSQLStore, key: str) -> bool:
        async with store.transaction() as work:
            return await work.first_sighting(key, NOW)

    for number in range(20):
        answers = await asyncio.gather(*(sighting(store, f"event:Ev{number}") for store in two_processes))
        assert sorted(answers) == [False, True]


# ---- migrate-data -------------------------------------------------------------------------------------------


async def test_migrate_data_copies_every_row_verifies_it_and_refuses_a_non_empty_target(tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'baton.db'}"
    source = store_for(sqlite_url)
    await source.open()
    work_service = service(source, tmp_path)
    ids = await start_timed(work_service, 5)
    await work_service.act(f"{ids[0]}.check", MARIA, "approve")
    await work_service.timer_sweep.fire_due_timers()
    async with source.transaction() as work:
        await work.first_sighting("event:Ev1", NOW)
        await work.first_digest(MARIA, "2026-12-02", NOW)
        await work.set_delegation(MARIA, BOB, NOW, NOW + timedelta(days=3))
    await source.close()
    async with fresh_postgres() as url:
        lines: list[str] = []
        copied = await migrate_data(sqlite_url, url, report=lines.append)
        assert [table.name for table in copied] == tables() and len(lines) == len(tables())
        counts = {table.name: table.rows for table in copied}
        assert counts["instances"] == 5 and counts["timers"] >= 10 and counts["delegations"] == 1
        with pytest.raises(StoreError, match="not empty"):
            await migrate_data(sqlite_url, url)
        target = store_for(url)
        await target.open()
        try:
            moved = service(target, tmp_path / "after")
            assert await start_timed(moved, 1) == [6]  # request numbers go on after the copied ones
            assert isinstance(await moved.act(f"{ids[1]}.check", MARIA, "approve"), Acted)
            async with target.transaction() as work:
                assert not await work.first_sighting("event:Ev1", NOW)
                trail = [entry.kind for entry in await work.audit_trail(ids[0])]
            assert "task_approved" in trail
        finally:
            await target.close()


async def test_migrate_data_from_the_command_line(tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'baton.db'}"
    source = store_for(sqlite_url)
    await source.open()
    await start_timed(service(source, tmp_path), 2)
    await source.close()
    async with fresh_postgres() as url:
        command = [sys.executable, "-m", "bot", "migrate-data", "--from", sqlite_url, "--to", url]
        env = {"PATH": "/usr/bin:/bin"}
        copied = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
        assert copied.returncode == 0, copied.stderr
        assert "instances: 2 rows copied" in copied.stdout and "checksums match" in copied.stdout
        refused = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 3 and "already holds data" in refused.stderr


async def test_a_sending_pause_keeps_its_first_reason_until_resumed(store: Store) -> None:
    first, later = datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    async with store.transaction() as work:
        assert await work.pause_sending("tokens_revoked", first)
        assert not await work.pause_sending("invalid_auth", later)  # a second refusal says nothing new
    async with store.transaction(read_only=True) as work:
        pause = await work.sending_pause()
    assert pause is not None and (pause.reason, pause.since) == ("tokens_revoked", first)
    async with store.transaction() as work:
        ended = await work.resume_sending()
        assert ended is not None and ended.reason == "tokens_revoked"
        assert await work.resume_sending() is None
        assert await work.sending_pause() is None


async def test_a_report_reads_its_snapshot_without_holding_a_decision_up(tmp_path: Path) -> None:
    """SQLite: a report's reading unit of work has a connection of its own, so a write commits while it is open,
    and the report goes on seeing the database as it was when it began."""
    store = SQLiteStore(tmp_path / "baton.db")
    await store.open()
    try:
        async with store.reading() as report:
            before = await report.ops_snapshot()
            async with asyncio.timeout(5):  # the store's one writer is not behind the report
                async with store.transaction() as work:
                    await work.enqueue([OutboxMessage("C1", "chat.postMessage", {"channel": "C1", "text": "x"})], NOW)
            assert (await report.ops_snapshot()).outbox_pending == before.outbox_pending == 0  # its snapshot
        async with store.reading() as report:
            assert (await report.ops_snapshot()).outbox_pending == 1
    finally:
        await store.close()


def test_an_outbox_row_keeps_text_pydantic_cannot_encode() -> None:
    """Outbox args are encoded with pydantic's encoder, which refuses a lone surrogate (a JSON escape such as
    `\\ud800` in a typed comment puts one in a str); json.dumps, which escapes it, takes over then."""
    for text in ("café", "a\ud800b"):
        args = {"channel": "D1", "text": text}
        row = outbox_row(OutboxMessage(conversation="D1", method="chat.postMessage", args=args), datetime.now(UTC))
        assert json.loads(row[2]) == args
