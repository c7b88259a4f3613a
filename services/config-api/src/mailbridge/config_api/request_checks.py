"""What the request guard decides from a request's head alone: pure functions of the ASGI scope.

NUL in the path, the query or a header would reach the database (PostgreSQL refuses it in text:
a 500) or a protocol command; it is refused with one problem entry per offending name. A body
announced larger than the limit is refused before a byte of it is read.
"""

from collections.abc import Iterable
from urllib.parse import parse_qsl

from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.fields import NUL, NUL_MESSAGE, NUL_RULE
from starlette.types import Scope

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def nul_problems(scope: Scope) -> list[FieldProblem]:
    """One entry for the path, each query parameter and each header that holds NUL."""
    names: list[str] = []
    if NUL in scope["path"]:
        names.append("path")
    query = scope.get("query_string", b"").decode("latin-1")
    names += [name for name, value in parse_qsl(query, keep_blank_values=True) if NUL in name + value]
    names += [name.decode("latin-1") for name, value in _headers(scope) if b"\x00" in name + value]
    printable = (name.replace(NUL, "\\u0000") for name in dict.fromkeys(names))
    return [FieldProblem(name, NUL_RULE, NUL_MESSAGE) for name in printable]


def declared_length(scope: Scope) -> int | None:
    """Content-Length as a number; None when absent (chunked) or not a number (the server's concern)."""
    for name, value in _headers(scope):
        if name == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def may_have_body(scope: Scope) -> bool:
    return scope["method"] in BODY_METHODS


def too_large_detail(limit: int) -> str:
    return (
        f"the request body is larger than {limit} bytes, the most this API accepts here "
        "(MAILBRIDGE_API_MAX_BODY_BYTES); send less"
    )


def _headers(scope: Scope) -> Iterable[tuple[bytes, bytes]]:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", [])
    return headers
