"""A workflow laid out as a flow: stages in rows, parallel steps side by side, conditions on the edges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from .definition import ParallelGroup, Step, StepKind, WorkflowDefinition

__all__ = ["FlowLayout", "MapEdge", "MapNode", "NodeKind", "flow_layout", "step_label"]


class NodeKind(StrEnum):
    START = "start"
    STEP = "step"
    JOIN = "join"  # where one parallel group ends and the next begins
    END = "end"


@dataclass(frozen=True)
class MapNode:
    """One box of the map; `row` counts down from the start, `column` is centred on 0 (half steps when even)."""

    key: str
    kind: NodeKind
    label: str
    row: int
    column: float
    step_id: str | None = None
    step_kind: StepKind | None = None


@dataclass(frozen=True)
class MapEdge:
    """An arrow; `condition` is the `when:` that must hold to take it, `bypass` the way round a skipped step."""

    source: str
    target: str
    condition: str | None = None
    bypass: bool = False


@dataclass(frozen=True)
class FlowLayout:
    title: str
    nodes: tuple[MapNode, ...]
    edges: tuple[MapEdge, ...]

    @property
    def rows(self) -> int:
        return max(node.row for node in self.nodes) + 1

    @property
    def widest(self) -> int:
        """The most boxes side by side in one row."""
        counts: dict[int, int] = {}
        for node in self.nodes:
            counts[node.row] = counts.get(node.row, 0) + 1
        return max(counts.values())


_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def step_label(step: Step) -> str:
    """The step's name for people who have no request at hand: its title up to the first placeholder when that
    says something (`Finance check: {form.amount}` is "Finance check"), else its id in words."""
    words = " ".join(step.id.replace("_", " ").replace("-", " ").split())
    named = words[:1].upper() + words[1:]
    head = _PLACEHOLDER.split(step.title, maxsplit=1)[0] if step.title else ""
    head = head.split("(", 1)[0] if head.count("(") > head.count(")") else head
    head = re.sub(r"\s+(for|of|by|to|from|on|with|and)$", "", head.strip(" :,;-—–("), flags=re.IGNORECASE)
    return head if len(head.split()) >= 2 and "{" not in head else named


def flow_layout(definition: WorkflowDefinition) -> FlowLayout:
    """Lay out the workflow's stages top to bottom, from a start node to an end node."""
    nodes = [MapNode("start", NodeKind.START, "Request started", 0, 0.0)]
    edges: list[MapEdge] = []
    previous: list[MapNode] = nodes[:1]
    after_group = False
    row = 1
    for index, stage in enumerate(definition.stages):
        steps = stage.parallel if isinstance(stage, ParallelGroup) else (stage,)
        if after_group and len(steps) > 1:  # two parallel groups in a row meet at a join first
            join = MapNode(f"join-{index}", NodeKind.JOIN, "all done", row, 0.0)
            nodes.append(join)
            edges.extend(MapEdge(node.key, join.key) for node in previous)
            previous, row = [join], row + 1
        current = [
            MapNode(f"step-{step.id}", NodeKind.STEP, step_label(step), row, position - (len(steps) - 1) / 2,
                    step_id=step.id, step_kind=step.type)
            for position, step in enumerate(steps)
        ]
        for node, step in zip(current, steps, strict=True):
            edges.extend(MapEdge(source.key, node.key, condition=step.when) for source in previous)
        nodes.extend(current)
        skippable = len(steps) == 1 and steps[0].when is not None
        previous = current + (previous if skippable else [])
        after_group = len(steps) > 1
        row += 1
    end = MapNode("end", NodeKind.END, "Finished", row, 0.0)
    nodes.append(end)
    edges.extend(MapEdge(node.key, end.key) for node in previous)
    return FlowLayout(definition.title, tuple(nodes), tuple(_mark_bypasses(edges, nodes)))


def _mark_bypasses(edges: list[MapEdge], nodes: list[MapNode]) -> list[MapEdge]:
    """An edge that jumps over a row goes round a skipped step: mark it, so it is drawn to the side, dashed."""
    rows = {node.key: node.row for node in nodes}
    return [
        MapEdge(edge.source, edge.target, edge.condition, bypass=rows[edge.target] - rows[edge.source] > 1)
        for edge in edges
    ]
