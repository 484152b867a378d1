"""Outbox rows queued by a Baton before typed outbox messages (schema 8): their flags rode in the Slack arguments."""

from __future__ import annotations

from dataclasses import replace

from bot.slack.messages import legacy_permalink_line
from bot.store import OutboxMessage

__all__ = ["lifted"]


def lifted(message: OutboxMessage) -> OutboxMessage:
    """The message with `_render`, `_thread_of` and `_permalink_of` taken out of its arguments into its fields."""
    if not {"_render", "_thread_of", "_permalink_of"} & message.args.keys():
        return message
    args = dict(message.args)
    render, thread_of, link_to = (args.pop(key, None) for key in ("_render", "_thread_of", "_permalink_of"))
    if isinstance(link_to, str):
        args = legacy_permalink_line(args)
    return replace(
        message,
        args=args,
        render=render if isinstance(render, str) else message.render,
        thread_of=thread_of if isinstance(thread_of, str) else message.thread_of,
        link_to=link_to if isinstance(link_to, str) else message.link_to,
    )
