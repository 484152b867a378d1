"""Token buckets for Slack's rate limits, kept by one process or shared through the store.

Slack allows about one message a second per conversation, with short bursts, and each Web API method a number
of calls a minute by its tier. The sender takes a token from the conversation's bucket and the method's before
each call; when a bucket is empty it learns how long to wait. One process keeps its buckets in memory
(`MemoryPacer`); processes that share a PostgreSQL database keep them in the store (`UnitOfWork.take_send_token`),
so that three processes together still send one message a second into a conversation, not three.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONVERSATION_LIMIT",
    "METHOD_TIERS",
    "Bucket",
    "Limit",
    "MemoryPacer",
    "method_limit",
    "take_token",
]


@dataclass(frozen=True)
class Limit:
    """A bucket's size and how fast it refills."""

    per_second: float
    burst: float


@dataclass(frozen=True)
class Bucket:
    """The tokens left at `updated_at` (epoch or loop seconds, as long as one bucket keeps to one)."""

    tokens: float
    updated_at: float


# Slack's guidance for chat.postMessage, applied to everything Baton sends into one conversation.
CONVERSATION_LIMIT = Limit(per_second=1.0, burst=5.0)

# Slack's rate-limit tiers (calls per minute per workspace) for the methods the sender calls; chat.postMessage
# is "special" (per conversation, above).
_TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIERS = {
    "chat.update": 3,
    "chat.getPermalink": 4,
    "views.publish": 4,
    "chat.postEphemeral": 4,
    "functions.completeSuccess": 3,
    "functions.completeError": 3,
}


def method_limit(method: str) -> Limit | None:
    """The bucket of a tiered method: a minute's worth may burst. None for methods without a tier here."""
    tier = METHOD_TIERS.get(method)
    if tier is None:
        return None
    per_minute = float(_TIER_PER_MINUTE[tier])
    return Limit(per_second=per_minute / 60.0, burst=per_minute)


def take_token(bucket: Bucket | None, now: float, limit: Limit) -> tuple[Bucket, float]:
    """Refill `bucket` (None: a new, full one) up to `now` and take a token.

    Return the bucket to keep and 0.0 when a token was taken, or the bucket and the seconds until one will be.
    A clock that reads earlier than the bucket (another process's clock, a little behind) refills nothing.
    """
    if bucket is None:
        tokens, updated_at = limit.burst, now
    else:
        elapsed = max(0.0, now - bucket.updated_at)
        tokens, updated_at = min(limit.burst, bucket.tokens + elapsed * limit.per_second), max(now, bucket.updated_at)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, updated_at), 0.0
    return Bucket(tokens, updated_at), (1.0 - tokens) / limit.per_second


class MemoryPacer:
    """The buckets of one process."""

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}

    def take(self, key: str, now: float, limit: Limit) -> float:
        """Take a token from the bucket `key`; return 0.0, or the seconds to wait for one."""
        bucket, wait = take_token(self._buckets.get(key), now, limit)
        self._buckets[key] = bucket
        return wait
