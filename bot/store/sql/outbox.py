"""The outbox: Slack calls queued with the state change that caused them, claimed, sent and settled in order."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from bot.pacing import Bucket, Limit, take_token
from bot.store.records import MessageRef, OutboxMessage, PendingMessage
from bot.store.rows import OUTBOX_WRITTEN, epoch, outbox_row, pending_message

from .part import SQLPart

__all__ = ["SQLOutbox"]

_ENQUEUE = (
    f"INSERT INTO outbox ({', '.join(OUTBOX_WRITTEN)}, status) "
    f"VALUES ({', '.join('?' * len(OUTBOX_WRITTEN))}, 'pending')"
)
_RELEASED = "locked_by = NULL, locked_until = NULL"  # a settled row holds no claim (only PostgreSQL claims rows)


class SQLOutbox(SQLPart):
    """Outbox rows from queued to sent, retried, failed or superseded, and the send buckets that pace them."""

    async def enqueue(self, messages: Sequence[OutboxMessage], now: datetime) -> None:
        await self._db.write_many(_ENQUEUE, [outbox_row(message, now) for message in messages])

    async def due_outbox(self, now: datetime, *, limit: int, exclude: Collection[int] = ()) -> list[PendingMessage]:
        """The due head of each conversation, oldest first, but for `exclude` (heads this process is sending);
        where processes share the outbox, claimed for this one until its lease runs out."""
        sql, params = self._dialect.claim_outbox(epoch(now), limit=limit, exclude=exclude)
        pending = [pending_message(row) for row in await self._db.all(sql, params)]
        return sorted(pending, key=lambda message: message.id)

    async def has_pending_post(self, message_key: str, before_id: int) -> bool:
        row = await self._db.one(
            "SELECT 1 FROM outbox WHERE message_key = ? AND method = 'chat.postMessage' "
            "AND status = 'pending' AND id < ?",
            (message_key, before_id),
        )
        return row is not None

    async def mark_sent(self, outbox_id: int, now: datetime, ref: MessageRef | None) -> None:
        await self._db.write(
            f"UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, {_RELEASED} WHERE id = ?",
            (epoch(now), outbox_id),
        )
        if ref is not None:
            await self._db.write(
                "INSERT INTO slack_messages (message_key, channel, ts) "
                "SELECT message_key, CAST(? AS TEXT), CAST(? AS TEXT) FROM outbox "
                "WHERE id = ? AND message_key IS NOT NULL AND message_key <> '' "
                "ON CONFLICT (message_key) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
                (ref.channel, ref.ts, outbox_id),
            )

    async def mark_retry(self, outbox_id: int, next_attempt_at: datetime, error: str, *, count: bool = True) -> None:
        await self._db.write(
            f"UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ?, {_RELEASED} WHERE id = ?",
            (1 if count else 0, epoch(next_attempt_at), error[:500], outbox_id),
        )

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        await self._db.write(
            f"UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, {_RELEASED} WHERE id = ?",
            (error[:500], outbox_id),
        )

    async def outbox_depth(self) -> int:
        row = await self._db.one("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        return int(row[0])

    async def supersede_pending(self, conversation: str, method: str, after_id: int, now: datetime) -> int:
        return await self._db.changed(
            f"UPDATE outbox SET status = 'superseded', sent_at = ?, {_RELEASED} "
            "WHERE status = 'pending' AND conversation = ? AND method = ? AND id > ?",
            (epoch(now), conversation, method, after_id),
        )

    async def take_send_token(self, key: str, now: datetime, limit: Limit) -> float:
        await self._db.write(
            "INSERT INTO send_pace (pace_key, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (pace_key) DO NOTHING",
            (key, limit.burst, epoch(now)),
        )
        # The row lock (where processes share the bucket) makes its read-refill-take-write atomic across them.
        row = await self._db.one(f"SELECT tokens, updated_at FROM send_pace WHERE pace_key = ?{self._row_lock}", (key,))
        bucket, wait = take_token(Bucket(row[0], row[1]) if row else None, epoch(now), limit)
        await self._db.write(
            "UPDATE send_pace SET tokens = ?, updated_at = ? WHERE pace_key = ?",
            (bucket.tokens, bucket.updated_at, key),
        )
        return wait
