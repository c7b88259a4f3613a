"""HTTP request metrics for an ASGI app (the configuration API): a count by method, route template
and status, and a duration histogram by method and route template.

The route is the template the router matched (`/api/v1/mail-accounts/{item_id}`), never the
request's path: a path carries ids, and one series per id would grow without bound. A request
whose path no route matches is counted as `unmatched`.
"""

import re
import time
from collections.abc import Iterable

from mailbridge.common.metrics import HTTP_DURATION, HTTP_REQUESTS
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"


class RouteTemplates:
    """Path → the template of the route it matches, e.g. `/api/v1/mail-accounts/{item_id}`.

    Built from the routers as the app includes them (prefix and all): FastAPI's own scope holds the
    matched route without its router's prefix, and nothing at all for a request the guard answered
    before routing."""

    def __init__(self) -> None:
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    def add(self, prefix: str, routes: Iterable[BaseRoute]) -> None:
        for route in routes:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                self._patterns.append((compile_path(prefix + path)[0], prefix + path))

    def of(self, path: str) -> str:
        return next((template for pattern, template in self._patterns if pattern.fullmatch(path)), UNMATCHED)


class HttpMetrics:
    """Pure ASGI middleware (no per-request task or body copy): counts each HTTP request once, with
    the status it answered (500 when the app raised before answering)."""

    def __init__(self, app: ASGIApp, templates: RouteTemplates) -> None:
        self.app, self.templates = app, templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route, method = self.templates.of(scope["path"]), scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status[0])).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
