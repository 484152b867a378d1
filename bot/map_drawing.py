"""A process map drawn with matplotlib (headless): boxes per step with their figures, the bottleneck in red."""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING, Literal

from bot.engine.flowmap import MapEdge, MapNode, NodeKind
from bot.process_map import ProcessMap, StepLoad
from bot.reporting.summary import span

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ImageFormat", "draw_map", "map_summary"]

ImageFormat = Literal["png", "svg"]

_COLUMN = 3.3  # inches between the centres of side-by-side boxes
_ROW = 1.55  # inches between rows
_BOX_WIDTH, _BOX_HEIGHT = 3.0, 1.0
_PILL_WIDTH, _PILL_HEIGHT = 1.8, 0.42
_MARGIN = 0.5
_INK, _MUTED, _CALM, _ALARM, _EDGE = "#1d1c1d", "#616061", "#2eb67d", "#e01e5a", "#868686"
_FILL = {"approval": "#e8f5fa", "task": "#f4ede4", "notify": "#f3f0fa"}


def map_summary(process_map: ProcessMap) -> str:
    """The map in words (the image's alt text and the message beside it)."""
    steps = [node for node in process_map.layout.nodes if node.kind is NodeKind.STEP]
    waiting = sum(process_map.loads.get(node.step_id or "", StepLoad()).waiting for node in steps)
    text = f"Process map of {process_map.layout.title} ({process_map.period_label}): {len(steps)} steps"
    text += f", {waiting} request{'s' if waiting != 1 else ''} waiting now"
    bottleneck = next((node for node in steps if node.step_id == process_map.bottleneck), None)
    if bottleneck is not None:
        load = process_map.loads.get(bottleneck.step_id or "", StepLoad())
        text += f"; the bottleneck is {bottleneck.label} (median wait {span(load.median_wait)})"
    return text + "."


def draw_map(process_map: ProcessMap, *, image_format: ImageFormat = "png") -> bytes:
    """The map as a PNG or an SVG (text kept as text, so it can be searched and read by screen readers)."""
    import matplotlib  # imported late: slow, and only maps and reports need it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layout = process_map.layout
    half_width = max(_BOX_WIDTH, (layout.widest - 1) * _COLUMN + _BOX_WIDTH) / 2 + _MARGIN + 0.9  # room for bypasses
    height = (layout.rows - 1) * _ROW + _BOX_HEIGHT + 2 * _MARGIN + 0.5
    figure = Figure(figsize=(2 * half_width, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(-half_width, half_width)
    axes.set_ylim(-(height - _MARGIN - 0.5 - _BOX_HEIGHT / 2), _MARGIN + _BOX_HEIGHT / 2)
    axes.set_axis_off()
    axes.text(-half_width + 0.2, _MARGIN + _BOX_HEIGHT / 2 - 0.15, f"{layout.title} · {process_map.period_label}",
              fontsize=11, fontweight="bold", color=_INK, va="top")
    where = {node.key: node for node in layout.nodes}
    for edge in layout.edges:
        _draw_edge(axes, edge, where[edge.source], where[edge.target])
    for node in layout.nodes:
        _draw_node(axes, node, process_map)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "baton"}):
        figure.savefig(buffer, format=image_format, metadata={"Date": None} if image_format == "svg" else None)
    return buffer.getvalue()


def _centre(node: MapNode) -> tuple[float, float]:
    return node.column * _COLUMN, -node.row * _ROW


def _half_height(node: MapNode) -> float:
    return (_BOX_HEIGHT if node.kind is NodeKind.STEP else _PILL_HEIGHT) / 2


def _draw_edge(axes: Axes, edge: MapEdge, source: MapNode, target: MapNode) -> None:
    from matplotlib.patches import FancyArrowPatch

    (x0, y0), (x1, y1) = _centre(source), _centre(target)
    start, end = (x0, y0 - _half_height(source)), (x1, y1 + _half_height(target))
    if edge.bypass:  # round the skipped step, on its right
        side = max(x0, x1) + _BOX_WIDTH / 2 + 0.35
        axes.plot([x0 + 0.3, side, side, x1 + 0.3], [start[1], start[1] - 0.2, end[1] + 0.2, end[1]],
                  color=_EDGE, linestyle="--", linewidth=1.0)
        axes.annotate("", xy=(x1 + 0.3, end[1]), xytext=(side, end[1] + 0.2),
                      arrowprops={"arrowstyle": "-|>", "color": _EDGE, "linestyle": "--"})
        axes.text(side + 0.05, (start[1] + end[1]) / 2, "otherwise\nskipped", fontsize=7, color=_MUTED,
                  ha="left", va="center")
        return
    axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=_EDGE, linewidth=1.2))
    if edge.condition:
        axes.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, textwrap.shorten(f"if {edge.condition}", 44),
                  fontsize=7.5, color=_INK, ha="center", va="center", style="italic",
                  bbox={"boxstyle": "round,pad=0.2", "facecolor": "#fff8d6", "edgecolor": "#e8c547"})


def _draw_node(axes: Axes, node: MapNode, process_map: ProcessMap) -> None:
    from matplotlib.patches import FancyBboxPatch

    x, y = _centre(node)
    if node.kind is not NodeKind.STEP:
        axes.add_patch(FancyBboxPatch((x - _PILL_WIDTH / 2, y - _PILL_HEIGHT / 2), _PILL_WIDTH, _PILL_HEIGHT,
                                      boxstyle="round,pad=0.02,rounding_size=0.2", facecolor="#f8f8f8",
                                      edgecolor=_EDGE))
        axes.text(x, y, node.label, fontsize=8.5, color=_MUTED, ha="center", va="center")
        return
    load = process_map.loads.get(node.step_id or "", StepLoad())
    slowest = node.step_id is not None and node.step_id == process_map.bottleneck
    kind = node.step_kind.value if node.step_kind is not None else "task"
    axes.add_patch(FancyBboxPatch((x - _BOX_WIDTH / 2, y - _BOX_HEIGHT / 2), _BOX_WIDTH, _BOX_HEIGHT,
                                  boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=_FILL.get(kind, "#ffffff"),
                                  edgecolor=_ALARM if slowest else "#bbbbbb", linewidth=3.0 if slowest else 1.0))
    title = textwrap.shorten(node.label, 34, placeholder="…")
    axes.text(x, y + 0.3, title, fontsize=9.5, fontweight="bold", color=_INK, ha="center", va="center")
    axes.text(x, y + 0.08, kind + ("  ·  BOTTLENECK" if slowest else ""), fontsize=7,
              color=_ALARM if slowest else _MUTED, ha="center", va="center", fontweight="bold" if slowest else None)
    if kind == "notify":
        axes.text(x, y - 0.22, "a message, no waiting", fontsize=7.5, color=_MUTED, ha="center", va="center")
        return
    axes.text(x, y - 0.14, f"{load.decided} decided · median wait {span(load.median_wait)}", fontsize=7.5,
              color=_INK, ha="center", va="center")
    busy = load.waiting > 0 or load.overdue > 0
    axes.text(x, y - 0.35, f"{load.waiting} waiting now · {load.overdue} overdue", fontsize=7.5,
              color=_ALARM if load.overdue else (_INK if busy else _MUTED), ha="center", va="center",
              fontweight="bold" if load.overdue else None)
