"""Every API request runs as a step of the trace its `traceparent` header names (or of a new
trace): the commands it publishes and the outbox rows it commits carry the request's trace
context on to the fetcher and sender, and its log lines carry the `trace_id` (common.tracing).
The answer names the request's own `traceparent`, so a person holding a response can find its
work in every service's logs."""

from mailbridge.common.tracing import TRACEPARENT, current_traceparent, step
from opentelemetry.trace import SpanKind
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADER = TRACEPARENT.encode()


class TraceRequests:
    """Pure ASGI middleware, outermost: the whole request, its errors included, is one step."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((value for name, value in scope["headers"] if name == _HEADER), None)
        with step(f"{scope['method']} {scope['path']}", incoming.decode("latin-1") if incoming else None,
                  kind=SpanKind.SERVER):  # fmt: skip
            traceparent = current_traceparent()

            async def answer(message: Message) -> None:
                if message["type"] == "http.response.start" and traceparent:
                    MutableHeaders(scope=message)[TRACEPARENT] = traceparent
                await send(message)

            await self.app(scope, receive, answer)
