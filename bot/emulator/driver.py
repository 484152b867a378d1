"""Plays Slack's side towards Baton: signed slash commands, interactions and events sent over HTTP."""

from __future__ import annotations

from .driver_base import NO_RESPONSE_URL, SLACK_USER_AGENT, Response
from .driver_events import Events
from .driver_interactions import Interactions

__all__ = ["NO_RESPONSE_URL", "SLACK_USER_AGENT", "Response", "SlackDriver"]


class SlackDriver(Interactions, Events):
    """Sends Slack-shaped, signed requests to Baton's request URL, keeping an emulator's state in step: what a
    person does (bot/emulator/driver_interactions.py) and what the Events API delivers (driver_events.py), over
    one signed transport (driver_base.py)."""
