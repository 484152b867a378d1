"""The sandbox answers only its own page: Host, Origin, JSON and the page's secret are checked on every request."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Final

from aiohttp import web

from .page import Handler

__all__ = ["SECRET_HEADER", "PageGuard"]

log = logging.getLogger(__name__)

SECRET_HEADER: Final = "X-Sandbox-Secret"


class PageGuard:
    """An aiohttp middleware for the sandbox's one address (`url` is known once the port is bound)."""

    def __init__(self, url: Callable[[], str], secret: str) -> None:
        self._url = url
        self._secret = secret

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer only requests to this sandbox's own address, and its JSON API only from its own page.

        A web page in the same browser must not drive the sandbox: the Host check stops DNS rebinding (a page
        whose own name points at 127.0.0.1), the Origin and JSON checks stop cross-origin posts (which a browser
        sends without asking, e.g. as text/plain), and the per-start secret, in the page's HTML and sent back in
        a header, is something only the page served here knows."""
        refusal = self.refusal(request)
        if refusal is None:
            return await handler(request)
        log.warning("sandbox refused %s %r: %s", request.method, request.path[:100], refusal)
        return web.json_response({"ok": False, "error": refusal}, status=403)

    def refusal(self, request: web.Request) -> str | None:
        port = self._url().rstrip("/").rsplit(":", 1)[-1]
        own = {f"127.0.0.1:{port}", f"localhost:{port}"}
        host = request.headers.get("Host", "")
        if host not in own:
            return f"the sandbox answers only at {self._url()}"
        if not request.path.startswith("/sandbox/api/"):
            return None
        origin = request.headers.get("Origin")
        if (origin is not None or request.method != "GET") and origin != f"http://{host}":
            return "the sandbox's API answers only its own page"
        if request.method != "GET" and request.content_type != "application/json":
            return "send JSON"
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return f"the sandbox's API wants the secret of its page in {SECRET_HEADER} (reload the page)"
        return None
