"""The request guard: what every request passes before a route reads a byte of its body.

In this order, each answered at once with a problem:
1. NUL in the path, the query or a header → 422 naming each (bodies: `RequestModel`).
2. A Content-Length over the body limit → 413, the body left unread.
3. Under the API prefix, the API key (`Authorization: Bearer …`) → 401; the caller is kept in
   the request state for the routes (`deps.PrincipalDep`). FastAPI reads a declared body before
   it resolves dependencies, so authenticating there would read an anonymous body first.
4. A body without Content-Length (chunked) is counted while it is read and cut past the limit
   (413 through the route's exception handling).

Routes that bound their own reading (the outbox upload, up to MAILBRIDGE_OUTBOX_MAX_BYTES, with
its own 422 for an oversized mail) skip 2 and 4 (`self_bounded`).
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute
from mailbridge.config_api.api_keys import authenticate, bearer_token
from mailbridge.config_api.errors import Unauthorized, ValidationFailed
from mailbridge.config_api.problems import api_error_response, problem_response
from mailbridge.config_api.request_checks import (
    declared_length,
    may_have_body,
    nul_problems,
    too_large_detail,
)
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRINCIPAL = "principal"
CONTENT_TOO_LARGE = 413


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes the limit; the route's handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(CONTENT_TOO_LARGE, too_large_detail(limit))


@dataclass(frozen=True)
class Endpoint:
    """A method and path pattern, e.g. the outbox upload's."""

    methods: frozenset[str]
    path: re.Pattern[str]

    def matches(self, scope: Scope) -> bool:
        return scope["method"] in self.methods and self.path.fullmatch(scope["path"]) is not None


def endpoints(router: APIRouter, prefix: str, operation_ids: Iterable[str]) -> list[Endpoint]:
    """The endpoints of `router` (mounted at `prefix`) with these operation ids, from the routes
    themselves rather than a second copy of their paths."""
    wanted = set(operation_ids)
    found = [
        Endpoint(frozenset(route.methods or ()), compile_path(prefix + route.path)[0])
        for route in router.routes
        if isinstance(route, APIRoute) and route.operation_id in wanted
    ]
    assert len(found) == len(wanted), f"no route for some of {sorted(wanted)}"
    return found


class RequestGuard:
    """Pure ASGI middleware (no body buffering, unlike BaseHTTPMiddleware)."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, api_prefix: str, self_bounded: Sequence[Endpoint]
    ) -> None:
        self.app, self.max_body_bytes, self.api_prefix = app, max_body_bytes, api_prefix
        self.self_bounded = self_bounded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problems = nul_problems(scope)
        if problems:
            await api_error_response(ValidationFailed(problems))(scope, receive, send)
            return
        limit = None if not may_have_body(scope) or self._bounds_itself(scope) else self.max_body_bytes
        declared = declared_length(scope)
        if limit is not None and declared is not None and declared > limit:
            response = problem_response(CONTENT_TOO_LARGE, "Content too large", too_large_detail(limit))
            await response(scope, receive, send)
            return
        if self._is_api(scope):
            try:
                scope.setdefault("state", {})[PRINCIPAL] = await _authenticate(scope)
            except Unauthorized as error:
                await api_error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive if limit is None else _counted(receive, limit), send)

    def _is_api(self, scope: Scope) -> bool:
        path: str = scope["path"]
        return path == self.api_prefix or path.startswith(self.api_prefix + "/")

    def _bounds_itself(self, scope: Scope) -> bool:
        return any(endpoint.matches(scope) for endpoint in self.self_bounded)


async def _authenticate(scope: Scope) -> object:
    header = dict(scope["headers"]).get(b"authorization")
    token = bearer_token(header.decode("latin-1") if header is not None else None)
    async with scope["app"].state.context.sessions() as session:
        return await authenticate(session, token)


def _counted(receive: Receive, limit: int) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return counted
