"""Domain errors raised by the use-cases; `problems.py` turns them into RFC 9457 responses."""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One offending field: where, which rule (a requirement id such as S10, or a type), why."""

    field: str
    rule: str
    message: str


class ApiError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ApiError):
    status = 404
    title = "Not found"


class Forbidden(ApiError):
    status = 403
    title = "Forbidden"


class Unauthorized(ApiError):
    status = 401
    title = "Unauthorized"


class Conflict(ApiError):
    """The change is valid on its own but clashes with other data, e.g. accounts use a server."""

    status = 409
    title = "Conflict"

    def __init__(self, detail: str, blocking_ids: list[str] | None = None) -> None:
        super().__init__(detail)
        self.blocking_ids = blocking_ids or []


class PreconditionFailed(ApiError):
    status = 412
    title = "Precondition failed"


class UnsupportedMediaType(ApiError):
    status = 415
    title = "Unsupported media type"


class ServiceUnavailable(ApiError):
    """A service the request needs (NATS) cannot be reached; nothing was done, try again later."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class BadGateway(ApiError):
    """A service the request needs answered, but refused in a way this API cannot pass on as the
    caller's fault (e.g. the OAuth broker could not read the request)."""

    status = 502
    title = "Bad gateway"


class ValidationFailed(ApiError):
    status = 422
    title = "Validation failed"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message} ({p.rule})" for p in problems))
        self.problems = problems


def invalid(field: str, rule: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem(field, rule, message)])
