"""A KPI report as people read it: a Slack summary (bottleneck, slowest queue, trend) and a weekly chart PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from bot.engine.flow import FlowFigures
from bot.engine.kpis import Durations, Figures, KpiReport, week_label
from bot.engine.satisfaction import Satisfaction
from bot.slack.wording import escape_text

__all__ = ["chart_png", "report_blocks", "report_text", "span", "tasks_chart_png"]

_MAX_WORKFLOW_LINES = 12
_MAX_COMMENTS = 10


def span(seconds: float | None) -> str:
    """A duration as people say it: `2 days 3 hours`, `45 minutes`, `–` for none."""
    if seconds is None:
        return "–"
    minutes = max(0, round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n
    ]
    return " ".join(parts[:2]) or "under a minute"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _times(durations: Durations) -> str:
    return f"median {span(durations.median)}, p90 {span(durations.p90)}"


def _headline(figures: Figures) -> str:
    return (
        f"Started *{figures.started}* · completed *{figures.completed}* · rejected {figures.rejected} · "
        f"cancelled {figures.cancelled}"
        + (f" · failed {figures.failed}" if figures.failed else "")
        + f" · completion rate *{_share(figures.completion_rate)}*"
    )


def _health(figures: Figures) -> str:
    return (
        f"Overdue: {figures.overdue} of {figures.tasks_with_due} tasks with a due time "
        f"({_share(figures.overdue_share)}) · reminders {figures.reminders} · escalations {figures.escalations} · "
        f"errors {figures.errors} ({figures.delivery_failures} undelivered, {figures.timeouts} timed out)"
    )


def _findings(report: KpiReport, titles: Mapping[str, str]) -> list[str]:
    lines = []
    bottleneck = report.bottleneck()
    if bottleneck is not None:
        where = titles.get(bottleneck.workflow, bottleneck.workflow)
        lines.append(
            f":hourglass: Bottleneck step: *{bottleneck.step_id}* of {where} "
            f"({_times(bottleneck.time)}, {bottleneck.time.count} decided, {bottleneck.open_now} open)"
        )
    slowest = report.slowest_queue()
    if slowest is not None:
        lines.append(
            f":turtle: Slowest queue: <@{slowest.user_id}> (waited {_times(slowest.waiting)} over "
            f"{slowest.waiting.count} tasks; {slowest.open_now} open, {slowest.overdue} overdue)"
        )
    trend = report.trend()
    if trend is not None:
        lines.append(
            f"{trend.arrow} Throughput: {trend.completed} completed in the week of {trend.week.isoformat()}, "
            f"{trend.completed_before} the week before · cycle time {trend.cycle_arrow} "
            f"{span(trend.median_cycle)} (was {span(trend.median_cycle_before)})"
        )
    else:
        lines.append("→ Trend: not enough full weeks in this period to compare.")
    return lines


def _flow(flow: FlowFigures) -> str:
    if not flow.requests:
        return ":stopwatch: Flow efficiency: no request finished in this period."
    cost = flow.cost_per_request
    shown = f"{cost:,.2f}" if cost is not None else "– (no `cost_per_hour` set)"
    return (
        f":stopwatch: Flow efficiency *{_share(flow.efficiency)}*: tasks in someone's hands {span(flow.touch)}, "
        f"waiting {span(flow.wait)}, over {flow.requests} finished requests · cost per request *{shown}*"
    )


def _satisfaction(ratings: Satisfaction) -> list[str]:
    if not ratings.count:
        average = ratings.previous_average
        before = f" (the period before: {average:.1f} of 5)" if average is not None else ""
        return [f":star: Satisfaction: no ratings in this period{before}."]
    counts = " · ".join(f"{score}★ {count}" for score, count in zip(range(1, 6), ratings.distribution, strict=True))
    before = (
        f"{ratings.arrow} was {ratings.previous_average:.1f} in the period before "
        f"({_plural(ratings.previous_count, 'rating')})"
        if ratings.previous_average is not None
        else "→ no ratings in the period before"
    )
    given = _plural(ratings.count, "rating")
    lines = [f":star: Satisfaction *{ratings.average:.1f} of 5* over {given} ({counts}) · {before}"]
    for row in ratings.comments[-_MAX_COMMENTS:]:
        said = escape_text(" ".join((row.comment or "").split()))[:300]  # one quoted line each
        lines.append(f"> {row.score}★ #{row.instance_id}: {said}")
    if len(ratings.comments) > _MAX_COMMENTS:
        lines.append(f"…and {len(ratings.comments) - _MAX_COMMENTS} earlier comments (in the export's events).")
    return lines


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def report_text(report: KpiReport, titles: Mapping[str, str]) -> str:
    """The whole summary as mrkdwn text (also the notification fallback)."""
    return "\n".join(_lines(report, titles))


def _lines(report: KpiReport, titles: Mapping[str, str]) -> list[str]:
    period = report.period
    name = ", ".join(titles.get(n, n) for n in titles) if len(titles) <= 3 else f"{len(titles)} workflows"
    lines = [
        f"*Report: {name}* · {period.label} ({period.start.date().isoformat()} → {report.as_of.date().isoformat()})",
        _headline(report.total),
        f"Cycle time, start to finish: {_times(report.total.cycle_time)} over {report.total.cycle_time.count} "
        "completed requests",
        _health(report.total),
        *_findings(report, titles),
        _flow(report.flow),
        *_satisfaction(report.satisfaction),
    ]
    if len(report.workflows) > 1:
        lines.append("*By workflow*")
        for workflow, figures in list(report.workflows.items())[:_MAX_WORKFLOW_LINES]:
            lines.append(
                f"• {titles.get(workflow, workflow)}: started {figures.started}, completed {figures.completed}, "
                f"rate {_share(figures.completion_rate)}, cycle {span(figures.cycle_time.median)}, "
                f"overdue {_share(figures.overdue_share)}"
            )
    return lines


def report_blocks(report: KpiReport, titles: Mapping[str, str]) -> list[dict[str, Any]]:
    """The summary as Block Kit sections (each under Slack's 3000-character limit)."""
    blocks: list[dict[str, Any]] = []
    for line in _lines(report, titles):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:2900]}})
    return blocks[:45]


def chart_png(report: KpiReport, title: str) -> bytes:
    """Throughput (completed per week) as bars and the median cycle time as a line, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported late: slow, and only reports need it
    from matplotlib.figure import Figure

    weeks = report.weeks
    labels = [week.label for week in weeks]
    figure = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(weeks)))
    axes.bar(positions, [week.completed for week in weeks], color="#2eb67d", label="completed")
    axes.plot(positions, [week.started for week in weeks], color="#36c5f0", marker=".", label="started")
    axes.set_ylabel("requests per week")
    axes.set_xticks(positions, labels, rotation=45, ha="right", fontsize=8)
    cycle_axes = axes.twinx()
    cycle_days = [
        (week.cycle_time.median / 86400.0) if week.cycle_time.median is not None else float("nan") for week in weeks
    ]
    cycle_axes.plot(positions, cycle_days, color="#e01e5a", marker="o", label="median cycle time (days)")
    cycle_axes.set_ylabel("median cycle time (days)")
    cycle_axes.set_ylim(bottom=0)
    handles = axes.get_legend_handles_labels()
    more = cycle_axes.get_legend_handles_labels()
    axes.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    axes.set_title(f"{title}: throughput and cycle time per week ({report.period.label})", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def tasks_chart_png(report: KpiReport, title: str) -> bytes:
    """Tasks over time: opened and decided per week as bars, open at the end of each week as a line, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weeks = report.task_weeks
    figure = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(weeks)))
    axes.bar([p - 0.2 for p in positions], [w.opened for w in weeks], width=0.4, color="#36c5f0", label="opened")
    axes.bar([p + 0.2 for p in positions], [w.decided for w in weeks], width=0.4, color="#2eb67d", label="decided")
    axes.plot(positions, [w.open_at_end for w in weeks], color="#e01e5a", marker="o", label="open at the week's end")
    axes.set_ylabel("tasks")
    axes.set_xticks(positions, [week_label(w.week) for w in weeks], rotation=45, ha="right", fontsize=8)
    axes.legend(loc="upper left", fontsize=8)
    axes.set_title(f"{title}: tasks per week ({report.period.label})", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
