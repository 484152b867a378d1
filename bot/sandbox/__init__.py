"""The local sandbox: Baton against the Slack emulator, with a browser page that plays Slack for each person."""

from bot.sandbox.server import SANDBOX_DATABASE_URL, Sandbox, sandbox_settings
from bot.sandbox.workspace import next_working_morning

__all__ = ["SANDBOX_DATABASE_URL", "Sandbox", "next_working_morning", "sandbox_settings"]
