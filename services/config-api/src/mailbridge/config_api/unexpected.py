"""Unexpected errors: a 500 problem for the client and one log entry (error_log.py).

Starlette's catch-all handler answers and then raises the error again, so that uvicorn logs the
whole chain a second time, messages and all. This middleware, inside that handler, answers and
logs once; the catch-all remains for errors in the middlewares themselves.
"""

from mailbridge.config_api.error_log import log_unexpected
from mailbridge.config_api.problems import problem_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ContainUnexpected:
    """Pure ASGI middleware: an error no handler took becomes a 500 problem here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:  # noqa: BLE001 - the last resort: any error becomes a 500 problem
            log_unexpected(error)
            if started:
                return  # too late for a problem: the server ends the unfinished response
            detail = "an unexpected error occurred; it was logged"
            await problem_response(500, "Internal error", detail)(scope, receive, send)
