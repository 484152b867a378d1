"""The outbox gives way to Slack requests being answered, but never for longer than its bound."""

from __future__ import annotations

import asyncio

from bot.priority import Answering


async def test_a_send_waits_while_a_request_is_being_answered_and_goes_when_it_is_answered() -> None:
    answering = Answering()
    order: list[str] = []
    with answering.request():
        sender = asyncio.create_task(answering.give_way(at_most=60))
        await asyncio.sleep(0.01)
        assert not sender.done()  # held back while the request is answered
        order.append("answered")
    await sender
    order.append("sent")
    assert order == ["answered", "sent"]


async def test_a_send_never_waits_past_its_bound_even_under_an_endless_stream_of_requests() -> None:
    answering = Answering()
    with answering.request():  # never answered while the send waits
        await asyncio.wait_for(answering.give_way(at_most=0.05), timeout=30)


async def test_with_no_request_under_way_a_send_goes_at_once() -> None:
    answering = Answering()
    with answering.request():
        pass
    task = asyncio.create_task(answering.give_way(at_most=60))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert task.done()
