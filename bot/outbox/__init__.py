"""The only code that sends to Slack: drains the store's outbox in order per conversation, retrying safely.

`sender.py` claims and hands out work, `delivery.py` sends one message, `policy.py` decides what a failure
means, `lookup.py` finds earlier messages (update targets, threads, permalinks), `ledger.py` records sends."""

from .policy import PERMANENT_ERRORS
from .sender import OutboxSender

__all__ = ["PERMANENT_ERRORS", "OutboxSender"]
