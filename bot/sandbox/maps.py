"""The sandbox page's process map: `GET /sandbox/api/map?workflow=…&user=…[&period=…]` answers an SVG."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.app import Baton
from bot.reporting.kpi_report import parse_report_request
from bot.slack.maps import MAP_REFUSAL

__all__ = ["map_handler"]


def map_handler(baton: Callable[[], Baton]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler, for the workflow and person the page names (the same rule as `/workflow map`)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        running = baton()
        user = request.query.get("user", "")
        words = [request.query.get("workflow", ""), request.query.get("period", "")]
        parsed = parse_report_request(words, running.clock.now())
        if parsed.workflow is None:
            return web.json_response({"ok": False, "error": "name a workflow"}, status=400)
        definition = running.maps.permitted(user, parsed.workflow)
        if definition is None:
            return web.json_response({"ok": False, "error": MAP_REFUSAL}, status=403)
        if parsed.period is None:
            return web.json_response({"ok": False, "error": parsed.problem or "bad period"}, status=400)
        svg = await running.maps.image(definition, parsed.period, image_format="svg")
        return web.Response(body=svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    return answer
