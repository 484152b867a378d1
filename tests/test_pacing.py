"""Token buckets for Slack's rate limits (bot/pacing.py): one process's, and the ones processes share."""

from __future__ import annotations

import pytest

from bot.pacing import CONVERSATION_LIMIT, Bucket, Limit, MemoryPacer, method_limit, take_token


def test_a_conversation_takes_a_burst_of_five_then_one_message_a_second() -> None:
    pacer = MemoryPacer()
    waits = [pacer.take("conversation D1", 100.0, CONVERSATION_LIMIT) for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(1.0)
    assert pacer.take("conversation D2", 100.0, CONVERSATION_LIMIT) == 0.0  # another conversation is not held
    assert pacer.take("conversation D1", 100.5, CONVERSATION_LIMIT) == pytest.approx(0.5)
    assert pacer.take("conversation D1", 101.0, CONVERSATION_LIMIT) == 0.0
    assert pacer.take("conversation D1", 101.0, CONVERSATION_LIMIT) == pytest.approx(1.0)


def test_a_bucket_refills_to_its_burst_and_no_further() -> None:
    limit = Limit(per_second=2.0, burst=3.0)
    bucket, wait = take_token(Bucket(tokens=0.0, updated_at=0.0), 60.0, limit)
    assert wait == 0.0 and bucket == Bucket(tokens=2.0, updated_at=60.0)  # a minute idle gives 3, not 120


def test_a_clock_behind_the_bucket_refills_nothing() -> None:
    bucket, wait = take_token(Bucket(tokens=0.5, updated_at=10.0), 9.0, CONVERSATION_LIMIT)
    assert bucket == Bucket(tokens=0.5, updated_at=10.0) and wait == pytest.approx(0.5)


def test_method_tiers_burst_a_minute_worth() -> None:
    update = method_limit("chat.update")
    assert update == Limit(per_second=50 / 60, burst=50.0)
    assert method_limit("chat.postMessage") is None  # special tier: paced per conversation instead
    pacer = MemoryPacer()
    assert all(pacer.take("method chat.update", 0.0, update) == 0.0 for _ in range(50))
    assert pacer.take("method chat.update", 0.0, update) == pytest.approx(60 / 50)
