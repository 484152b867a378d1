"""The local sandbox: Baton against the Slack emulator, with a browser page that plays Slack for each person."""

from bot.sandbox.server import (
    SANDBOX_DATABASE,
    SANDBOX_DATABASE_URL,
    SECRET_HEADER,
    Sandbox,
    ignored_settings,
    sandbox_settings,
)
from bot.sandbox.workspace import next_working_morning

__all__ = [
    "SANDBOX_DATABASE",
    "SANDBOX_DATABASE_URL",
    "SECRET_HEADER",
    "Sandbox",
    "ignored_settings",
    "next_working_morning",
    "sandbox_settings",
]
