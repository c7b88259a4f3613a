"""HTTP request metrics for an ASGI app (the configuration API): a count by method, route template
and status, and a duration histogram by method and route template.

The route is the template the router matched (`/api/v1/mail-accounts/{item_id}`), never the
request's path: a path carries ids, and one series per id would grow without bound. A request no
route matched is counted as `unmatched`.
"""

import time
from typing import Any

from mailbridge.common.metrics import HTTP_DURATION, HTTP_REQUESTS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The matched route's path template (set in the scope by the router), or `unmatched`."""
    route: Any = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class HttpMetrics:
    """Pure ASGI middleware (no per-request task or body copy): counts each HTTP request once, with
    the status it answered (500 when the app raised before answering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            route, method = route_template(scope), scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status[0])).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
