"""The emulator's Web API methods, one family per module, joined into one table by method name."""

from __future__ import annotations

from collections.abc import Callable

from bot.emulator.arguments import Handler
from bot.emulator.methods.chat import ChatMethods
from bot.emulator.methods.conversations import ConversationMethods
from bot.emulator.methods.files import FileMethods
from bot.emulator.methods.functions import FUNCTION_TIERS, FunctionMethods
from bot.emulator.methods.users import USER_TIERS, UserMethods
from bot.emulator.methods.views import ViewMethods
from bot.emulator.workspace import Workspace

__all__ = [
    "ChatMethods",
    "ConversationMethods",
    "FileMethods",
    "UNLISTED_TIERS",
    "FunctionMethods",
    "UserMethods",
    "ViewMethods",
    "method_table",
]

UNLISTED_TIERS = {**FUNCTION_TIERS, **USER_TIERS}  # the methods' tiers the reference files leave out


def method_table(
    workspace: Workspace, views: ViewMethods, functions: FunctionMethods, *, base_url: Callable[[], str]
) -> dict[str, Handler]:
    """Every supported method's handler, by Slack method name."""
    families = (
        UserMethods(workspace),
        ChatMethods(workspace),
        ConversationMethods(workspace),
        views,
        FileMethods(workspace, base_url),
        functions,
    )
    return {name: handler for family in families for name, handler in family.handlers().items()}
