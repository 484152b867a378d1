"""The App Home tab: what I owe, what I wait for, and what I can start."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.engine import Instance, Task, WorkflowDefinition

from .blocks import Block, context, divider, fit_blocks, header, section
from .messages import requests_blocks, task_buttons, when

__all__ = ["home_view"]


def home_view(
    tasks: Sequence[tuple[WorkflowDefinition, Instance, Task]],
    requests: Sequence[Instance],
    startable: Sequence[WorkflowDefinition],
) -> dict[str, Any]:
    """The Home tab for one person."""
    blocks: list[Block] = [header(f"Your open tasks ({len(tasks)})")]
    if not tasks:
        blocks.append(section(":tada: Nothing waiting for you."))
    for _definition, instance, task in tasks[:20]:
        due = f" · due {when(task.due_at)}" if task.due_at else ""
        blocks.append(section(f"*{task.title}*\n{instance.title} from <@{instance.requester}>{due}"))
        blocks.append(task_buttons(task))
    blocks.append(divider())
    blocks.extend(requests_blocks(requests[:10]))
    blocks.append(divider())
    names = ", ".join(f"`{d.name}`" for d in startable) or "none"
    blocks.append(context(f"You can start: {names} — `/workflow start &lt;name&gt;`"))
    return {"type": "home", "blocks": fit_blocks(blocks, 100)}
